//! `skald server`: wires store, ingester, distributor, querier and HTTP API together.

use crate::startup::Startup;
use anyhow::Context;
use skald_api::AppState;
use skald_config::Config;
use skald_distributor::{Distributor, IngesterPush};
use skald_ingester::{Ingester, IngesterConfig};
use skald_querier::Querier;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Chunk cache size of the querier.
pub(crate) const CHUNK_CACHE_BYTES: usize = 256 << 20;

/// The data directory: `--data-dir`, else `common.path_prefix`, else `./data`.
pub(crate) fn data_dir(startup: &Startup) -> anyhow::Result<PathBuf> {
    let config = startup.config();
    let data_dir = startup.line.data_dir.clone().or(config.common.path_prefix.clone()).unwrap_or_else(|| PathBuf::from("./data"));
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
    Ok(data_dir)
}

/// The HTTP listen address: `--http-addr`, else `server.http_listen_address:port`.
pub(crate) fn http_addr(startup: &Startup) -> String {
    let server = &startup.config().server;
    startup.line.http_addr.clone().unwrap_or_else(|| format!("{}:{}", server.http_listen_address, server.http_listen_port))
}

/// Opens the ingester (its WAL, not yet replayed) with the `ingester` settings.
pub(crate) fn open_ingester(
    config: &Config,
    data_dir: &std::path::Path,
    store: Arc<skald_storage::Store>,
) -> anyhow::Result<(Arc<Ingester>, Option<skald_ingester::Replay>)> {
    let mut ingester_config = IngesterConfig::new(data_dir);
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
    ingester_config.codec = skald_config::chunk_codec(&section.chunk_encoding).context("ingester.chunk_encoding")?.0;
    Ok(Ingester::open(ingester_config, store)?)
}

/// Replays the WAL on a blocking thread (the server answers, not ready, meanwhile) and
/// calls `ready` when done.
pub(crate) fn start_replay(ingester: &Arc<Ingester>, replay: Option<skald_ingester::Replay>, ready: impl FnOnce() + Send + 'static) {
    let Some(replay) = replay else {
        ready();
        return;
    };
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
        ready();
    });
}

/// Each tenant's limits: `limits_config` with the tenant's runtime overrides, and
/// `query_range.shard_aggregations` added to each tenant's list (as Loki merges them).
pub(crate) fn limits_fn(startup: &Startup) -> Arc<dyn Fn(&str) -> skald_common::Limits + Send + Sync> {
    let tenants = startup.tenants.clone();
    let shard_aggregations: Vec<String> =
        startup.config().query_range.shard_aggregations.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
    Arc::new(move |tenant: &str| {
        let mut limits = tenants.limits(tenant);
        for aggregation in &shard_aggregations {
            if !limits.shard_aggregations.contains(aggregation) {
                limits.shard_aggregations.push(aggregation.clone());
            }
        }
        limits
    })
}

/// Each tenant's active-stream limit (`max_global_streams_per_user` with overrides).
pub(crate) fn stream_limit(startup: &Startup) -> skald_ingester::StreamLimitFn {
    let tenants = startup.tenants.clone();
    Arc::new(move |tenant: &str| tenants.limits(tenant).max_global_streams_per_user)
}

/// `/config` and `/runtime_config`, and the reload status on `/metrics`.
pub(crate) fn admin_router(startup: &Startup) -> axum::Router {
    crate::runtime_overrides::router(Arc::new(startup.config().clone()), startup.tenants.clone())
}

/// Query admission from `querier.max_concurrent` and the scheduler's per-tenant limit.
pub(crate) fn admission(config: &Config) -> skald_querier::admission::Admission {
    skald_querier::admission::Admission::new(
        config.querier.max_concurrent.unwrap_or(skald_querier::admission::DEFAULT_MAX_CONCURRENT),
        config.query_scheduler.max_outstanding_requests_per_tenant,
    )
}

/// gRPC message limits from the `server` section.
pub(crate) fn message_limits(config: &Config) -> skald_grpc::MessageLimits {
    skald_grpc::MessageLimits {
        max_recv_msg_size: config.server.grpc_server_max_recv_msg_size,
        max_send_msg_size: config.server.grpc_server_max_send_msg_size,
    }
}

/// Every role in one process: the distributor pushes to the local ingester and the
/// querier reads it directly. gRPC (Loki's push service, for gRPC clients) is served
/// only when `server.grpc_listen_port` is set.
pub(crate) async fn serve(startup: Startup) -> anyhow::Result<()> {
    let config = startup.config();
    let data_dir = data_dir(&startup)?;
    let store = crate::storage_wiring::open_store(config, &data_dir, CHUNK_CACHE_BYTES).await?;
    let (ingester, replay) = open_ingester(config, &data_dir, store.clone())?;
    ingester.set_stream_limit(stream_limit(&startup));

    let limits_fn = limits_fn(&startup);
    let pusher: Arc<dyn IngesterPush> = Arc::new(ingester.clone());
    let distributor = Arc::new(
        Distributor::new(limits_fn.clone(), pusher)
            .with_otlp_default_index_labels(config.distributor.otlp_config.default_resource_attributes_as_index_labels.clone()),
    );
    let querier = Arc::new(Querier::new(ingester.clone(), store.clone(), limits_fn).with_admission(admission(config)));
    if let Some(port) = config.server.grpc_listen_port {
        let host = if config.server.grpc_listen_address.is_empty() { "0.0.0.0" } else { config.server.grpc_listen_address.as_str() };
        let listener = tokio::net::TcpListener::bind((host, port)).await.with_context(|| format!("gRPC listening on {host}:{port}"))?;
        let pusher = skald_grpc::pusher_service(distributor.clone(), config.auth_enabled, message_limits(config));
        let credentials = Arc::new(crate::credentials::credentials(config)?);
        let otlp = skald_grpc::otlp_logs_service(distributor.clone(), config.auth_enabled, message_limits(config));
        let routes = tonic::service::Routes::new(tonic::service::interceptor::InterceptedService::new(
            pusher,
            crate::grpc_security::push_credentials(credentials.clone()),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(otlp, crate::grpc_security::push_credentials(credentials)));
        let tls = crate::grpc_security::server_tls(&config.server.grpc_tls_config)?;
        tracing::info!(addr = %listener.local_addr()?, tls = tls.is_some(), "gRPC push service listening");
        tokio::spawn(async move {
            if let Err(error) = skald_grpc::serve(listener, routes, tls, std::future::pending()).await {
                tracing::error!(%error, "gRPC server failed");
            }
        });
    }
    let ruler = crate::ruler_wiring::build_ruler(config, &data_dir, &store, Some(querier.clone()))?;
    let replayed = ingester.clone();
    ruler.set_ready_check(Arc::new(move || replayed.is_ready()));
    ruler.start();
    let mut state = AppState::single_binary(distributor, querier, ingester.clone(), config.auth_enabled);
    state.multi_tenant_queries = config.querier.multi_tenant_queries_enabled;
    state.extra_metrics.push(Arc::new(crate::runtime_overrides::render_metrics));
    if let Some(notifier) = ruler.notifier().cloned() {
        state.extra_metrics.push(Arc::new(move || notifier.render_metrics()));
    }
    if let Some(writer) = ruler.remote_writer().cloned() {
        state.extra_metrics.push(Arc::new(move || writer.render_metrics()));
    }
    state.ruler = Some(ruler);
    let state = Arc::new(state);
    let credentials = Arc::new(crate::credentials::credentials(config)?);
    let shutdown = Arc::new(crate::ingester_shutdown::ShutdownControl::default());
    let app = skald_api::router(state)
        .merge(crate::ingester_shutdown::router(crate::ingester_shutdown::ShutdownTarget {
            control: shutdown.clone(),
            ingester: ingester.clone(),
            cluster: None,
            tokens_file: None,
        }))
        .merge(skald_ui::router())
        .merge(crate::storage_wiring::delete_router(config, &store))
        .merge(admin_router(&startup))
        .layer(axum::middleware::from_fn_with_state(credentials.clone(), skald_api::auth::authenticate));
    let serve_options = serve_options(config)?;

    let addr = http_addr(&startup);
    let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("listening on {addr}"))?;
    tracing::info!(
        %addr,
        data_dir = %data_dir.display(),
        auth_enabled = config.auth_enabled,
        credentials = credentials.list.len(),
        tls = serve_options.tls.is_some(),
        "skald listening"
    );

    // Serve (reporting not ready) while the WAL replays.
    start_replay(&ingester, replay, || {});
    tokio::spawn(ingester.clone().run_flush_loop());
    crate::storage_wiring::spawn_background(config, &store, &startup.tenants)?;
    ingester.start_cutter().context("starting the head cutter thread")?;

    let stop = async {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = shutdown.requested() => {}
        }
    };
    skald_api::serve::serve(listener, app, serve_options, stop, Duration::from_secs(10)).await;
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
pub(crate) fn limit_malloc_arenas() {
    // SAFETY: mallopt only changes allocator tuning; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Timeouts, connection limit and TLS of the HTTP server, from the `server` section.
pub(crate) fn serve_options(config: &Config) -> anyhow::Result<skald_api::serve::ServeOptions> {
    let server = &config.server;
    let tls_section = &server.http_tls_config;
    let tls = match (&tls_section.cert_file, &tls_section.key_file) {
        (Some(cert), Some(key)) => {
            Some(skald_api::tls::acceptor(cert, key, tls_section.client_ca_file.as_deref()).context("server.http_tls_config")?)
        }
        _ => None,
    };
    Ok(skald_api::serve::ServeOptions {
        read_timeout: nanos(server.http_server_read_timeout),
        write_timeout: nanos(server.http_server_write_timeout),
        idle_timeout: nanos(server.http_server_idle_timeout),
        max_connections: server.http_listen_conn_limit,
        tls,
    })
}

pub(crate) fn nanos(value: i64) -> Duration {
    Duration::from_nanos(value.max(0) as u64)
}

pub(crate) async fn shutdown_signal() {
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
