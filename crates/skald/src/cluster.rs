//! A node of a cluster (Loki's microservices and simple-scalable modes): the roles of
//! `-target` on this machine, talking to the other nodes over gRPC, finding them by
//! gossip (`memberlist`), all on shared object storage.
//!
//! What each role adds to this node:
//! - ingester: WAL, chunks, the ingester gRPC service; joins the ring JOINING, turns
//!   ACTIVE once its WAL is replayed, and on shutdown turns LEAVING, flushes, leaves;
//! - distributor: the push API (HTTP and Loki's gRPC `Pusher`), each stream sent to
//!   `replication_factor` ingesters picked by the ring, acknowledged on quorum;
//! - querier: Loki's read API over every ingester (gRPC) and the store; it pulls query
//!   parts from the scheduler when one is configured;
//! - query-frontend: the read API, split into parts queued with the scheduler;
//! - query-scheduler: the fair per-tenant queue between frontends and queriers;
//! - compactor: index compaction, retention and the delete API;
//! - ruler: the rule groups the ruler ring gives this node, evaluated through its own
//!   querier or a query frontend (`ruler.evaluation.mode: remote`).
//!
//! Every node answers dskit's httpgrpc (`/httpgrpc.HTTP/Handle`) on its gRPC port with
//! its HTTP API, as Loki's nodes do: that is how rulers reach a query frontend.

use crate::grpc_security;
use crate::ring_adapters::{RingIngesters, RingReplicas, RingTail};
use crate::roles::{Role, Roles};
use crate::server::{self, CHUNK_CACHE_BYTES, nanos};
use crate::startup::Startup;
use anyhow::Context;
use skald_api::AppState;
use skald_config::Config;
use skald_distributor::Distributor;
use skald_grpc::{ClientConfig, IngesterClientPool, RemoteRecentData, ReplicatedPush};
use skald_querier::Querier;
use skald_ring::{Cluster, ClusterConfig, InstanceState, LocalMember, Role as RingRole};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

/// Loki's default gRPC port, used by cluster nodes when none is configured.
const DEFAULT_GRPC_PORT: u16 = 9095;

pub async fn serve(startup: Startup, roles: Roles) -> anyhow::Result<()> {
    let config = startup.config();
    let data_dir = server::data_dir(&startup)?;
    let http_listener = TcpListener::bind(server::http_addr(&startup)).await.context("binding the HTTP listener")?;
    let http_local = http_listener.local_addr()?;
    let grpc_host =
        if config.server.grpc_listen_address.is_empty() { http_local.ip().to_string() } else { config.server.grpc_listen_address.clone() };
    let grpc_port = config.server.grpc_listen_port.unwrap_or(DEFAULT_GRPC_PORT);
    let grpc_listener = TcpListener::bind((grpc_host.as_str(), grpc_port))
        .await
        .with_context(|| format!("binding the gRPC listener {grpc_host}:{grpc_port}"))?;
    let grpc_local = grpc_listener.local_addr()?;
    let advertise_ip = advertise_ip(config, http_local.ip())?;
    let http_advertise = SocketAddr::new(advertise_ip, http_local.port()).to_string();
    let grpc_advertise = SocketAddr::new(advertise_ip, grpc_local.port()).to_string();

    let cluster = join_cluster(config, &roles, advertise_ip, &http_advertise, &grpc_advertise).await?;
    let replication_factor = replication_factor(config);
    let pool = Arc::new(IngesterClientPool::new(ClientConfig {
        remote_timeout: nanos(config.ingester_client.remote_timeout),
        tls: grpc_security::client_tls(&config.ingester_client.grpc_client_config, "ingester_client.grpc_client_config")?,
        ..ClientConfig::default()
    }));
    let credentials = Arc::new(crate::credentials::credentials(config)?);
    tracing::info!(
        roles = %roles,
        http = %http_advertise,
        grpc = %grpc_advertise,
        gossip = %cluster.gossip_advertise(),
        node = cluster.id(),
        replication_factor,
        "cluster node starting"
    );

    let needs_store = roles.has(Role::Ingester)
        || roles.has(Role::Querier)
        || roles.has(Role::Compactor)
        || roles.has(Role::QueryFrontend)
        || roles.has(Role::Ruler);
    let store = if needs_store { Some(crate::storage_wiring::open_store(config, &data_dir, CHUNK_CACHE_BYTES).await?) } else { None };
    let limits_fn = server::limits_fn(&startup);
    let limits = server::message_limits(config);
    let mut grpc_routes = tonic::service::Routes::builder();
    let mut state = AppState::new(config.auth_enabled);
    state.multi_tenant_queries = config.querier.multi_tenant_queries_enabled;
    state.extra_metrics.push(Arc::new(crate::runtime_overrides::render_metrics));
    let mut extra_routes = axum::Router::new().merge(skald_ring::router(cluster.clone())).merge(server::admin_router(&startup));

    // Ingester.
    let shutdown = Arc::new(crate::ingester_shutdown::ShutdownControl::default());
    let ingester = match (&store, roles.has(Role::Ingester)) {
        (Some(store), true) => {
            let (ingester, replay) = server::open_ingester(config, &data_dir, store.clone())?;
            ingester.set_stream_limit(server::stream_limit(&startup));
            let joining = cluster.clone();
            server::start_replay(&ingester, replay, move || joining.set_state(InstanceState::Active));
            tokio::spawn(ingester.clone().run_flush_loop());
            ingester.start_cutter().context("starting the head cutter thread")?;
            grpc_routes.add_service(skald_grpc::ingester_service(ingester.clone(), limits));
            state.ingester = Some(ingester.clone());
            extra_routes = extra_routes.merge(crate::ingester_shutdown::router(crate::ingester_shutdown::ShutdownTarget {
                control: shutdown.clone(),
                ingester: ingester.clone(),
                cluster: Some(cluster.clone()),
                tokens_file: config.ingester.lifecycler.tokens_file_path.clone(),
            }));
            if config.ingester.autoforget_unhealthy {
                crate::ingester_shutdown::spawn_autoforget(cluster.clone());
            }
            Some(ingester)
        }
        _ => None,
    };

    // Distributor: rate limits are global, shared evenly among the healthy distributors.
    if roles.has(Role::Distributor) {
        let picker = Arc::new(RingReplicas { cluster: cluster.clone(), replication_factor, zone_aware: zone_awareness(config) });
        let pusher = Arc::new(ReplicatedPush::new(picker, pool.clone()));
        let distributors = cluster.clone();
        let base_limits = limits_fn.clone();
        let global_limits: Arc<dyn Fn(&str) -> skald_common::Limits + Send + Sync> = Arc::new(move |tenant: &str| {
            let mut limits = base_limits(tenant);
            let healthy = distributors.members_with_role(RingRole::Distributor).iter().filter(|m| m.healthy).count().max(1);
            limits.ingestion_rate_mb /= healthy as f64;
            limits
        });
        let distributor = Arc::new(
            Distributor::new(global_limits, pusher)
                .with_otlp_default_index_labels(config.distributor.otlp_config.default_resource_attributes_as_index_labels.clone()),
        );
        let pusher = skald_grpc::pusher_service(distributor.clone(), config.auth_enabled, limits);
        grpc_routes.add_service(InterceptedService::new(pusher, grpc_security::push_credentials(credentials.clone())));
        let otlp = skald_grpc::otlp_logs_service(distributor.clone(), config.auth_enabled, limits);
        grpc_routes.add_service(InterceptedService::new(otlp, grpc_security::push_credentials(credentials.clone())));
        state.distributor = Some(distributor);
    }

    // Query scheduler (also run inside a frontend that names no scheduler).
    let runs_scheduler =
        roles.has(Role::QueryScheduler) || (roles.has(Role::QueryFrontend) && config.frontend.scheduler_address.is_empty());
    if runs_scheduler {
        let mut block = config.query_scheduler.clone();
        if !roles.has(Role::QueryScheduler) {
            block.max_outstanding_requests_per_tenant = config.frontend.max_outstanding_per_tenant;
        }
        let (service, handle) = skald_frontend::scheduler_service(skald_frontend::SchedulerConfig::from_block(&block));
        grpc_routes.add_service(service);
        state.extra_metrics.push(Arc::new(move || handle.render_metrics()));
    }
    let scheduler_address = |configured: &str| -> Option<String> {
        if !configured.is_empty() {
            Some(configured.to_string())
        } else if runs_scheduler {
            Some(grpc_advertise.clone())
        } else {
            None
        }
    };

    // Querier: recent data from every ingester, older data from the store.
    let new_querier = |store: &Arc<skald_storage::Store>| {
        let ingesters = Arc::new(RingIngesters { cluster: cluster.clone(), replication_factor, zone_aware: zone_awareness(config) });
        let recent = Arc::new(RemoteRecentData::new(ingesters, pool.clone(), nanos(config.querier.query_ingesters_within)));
        Arc::new(Querier::new(recent, store.clone(), limits_fn.clone()).with_admission(server::admission(config)))
    };
    // The querier's own API: for the parts the scheduler hands out, and live tails.
    let mut querier_api = None;
    if let (Some(store), true) = (&store, roles.has(Role::Querier)) {
        let querier = new_querier(store);
        let tail = Arc::new(RingTail { cluster: cluster.clone(), pool: pool.clone() });
        let mut own = AppState::new(config.auth_enabled);
        own.multi_tenant_queries = config.querier.multi_tenant_queries_enabled;
        own.querier = Some(querier.clone());
        own.tail = Some(tail.clone());
        let handler = skald_api::router(Arc::new(own));
        querier_api = Some(handler.clone());
        if let Some(address) = scheduler_address(&config.frontend_worker.scheduler_address) {
            let concurrency = config
                .frontend_worker
                .concurrency(config.querier.max_concurrent.unwrap_or(skald_querier::admission::DEFAULT_MAX_CONCURRENT));
            let tls = grpc_security::client_tls(&config.frontend_worker.grpc_client_config, "frontend_worker.grpc_client_config")?;
            tokio::spawn(skald_frontend::run_querier_worker(address, cluster.id().to_string(), concurrency, handler, tls));
        }
        if !roles.has(Role::QueryFrontend) {
            state.querier = Some(querier);
            state.tail = Some(tail);
        }
    }

    // Query frontend: Loki's read API, split and queued.
    if roles.has(Role::QueryFrontend) {
        let address = scheduler_address(&config.frontend.scheduler_address).context("frontend.scheduler_address")?;
        let tls = grpc_security::client_tls(&config.frontend.grpc_client_config, "frontend.grpc_client_config")?;
        let client =
            skald_frontend::connect_scheduler(&address, tls.as_ref()).map_err(|e| anyhow::anyhow!("frontend.scheduler_address: {e}"))?;
        let limits = limits_fn.clone();
        let tenant_limits: skald_frontend::LimitsFn = Arc::new(move |tenant: &str| {
            let limits = limits(tenant);
            skald_frontend::TenantLimits {
                split: skald_frontend::SplitLimits {
                    split_queries_by_interval: limits.split_queries_by_interval,
                    max_query_parallelism: limits.max_query_parallelism,
                },
                max_query_length: limits.max_query_length,
                max_bytes_per_shard: limits.tsdb_max_bytes_per_shard,
                max_shards: limits.tsdb_max_query_parallelism,
            }
        });
        let frontend_config = skald_frontend::FrontendConfig::new(skald_frontend::TenantLimits::default())
            .with_tenant_limits(tenant_limits)
            .with_query_range(&config.query_range)
            .with_query_timeout(nanos(config.limits_config.query_timeout));
        let (router, handle) = skald_frontend::frontend_router_with_handle(client, frontend_config);
        state.extra_metrics.push(Arc::new(move || handle.render_metrics()));
        extra_routes = extra_routes.merge(router);
        // Live tails: this node's querier when it has one, else relayed to a querier.
        extra_routes = match &querier_api {
            Some(api) => extra_routes.route_service("/loki/api/v1/tail", api.clone().into_service::<axum::body::Body>()),
            None => extra_routes.merge(skald_frontend::tail_proxy_router(tail_target(config, &cluster))),
        };
    }

    // Compactor (one per bucket).
    if let (Some(store), true) = (&store, roles.has(Role::Compactor)) {
        extra_routes = extra_routes.merge(crate::storage_wiring::delete_router(config, store));
        crate::storage_wiring::spawn_compactor(config, store, &startup.tenants)?;
    }
    if let Some(store) = &store {
        crate::storage_wiring::spawn_index_refresh(config, store);
    }

    // Ruler: the groups the ruler ring gives this node, through its own querier or a
    // query frontend (`ruler.evaluation.mode`).
    let ruler = match (&store, roles.has(Role::Ruler)) {
        (Some(store), true) => {
            let remote = config.ruler.evaluation.is_remote().map_err(anyhow::Error::msg)?;
            let local = if remote { None } else { Some(new_querier(store)) };
            let ruler = crate::ruler_wiring::build_ruler(config, &data_dir, store, local)?;
            crate::ruler_wiring::shard_by_ring(&ruler, &cluster);
            ruler.start();
            if let Some(notifier) = ruler.notifier().cloned() {
                state.extra_metrics.push(Arc::new(move || notifier.render_metrics()));
            }
            if let Some(writer) = ruler.remote_writer().cloned() {
                state.extra_metrics.push(Arc::new(move || writer.render_metrics()));
            }
            state.ruler = Some(ruler.clone());
            state.ruler_peers = Some(Arc::new(crate::ruler_wiring::ClusterRulerPeers::new(cluster.clone())));
            Some(ruler)
        }
        _ => None,
    };

    let api = skald_api::router(Arc::new(state)).merge(extra_routes).merge(skald_ui::router());
    // dskit's httpgrpc on the gRPC port (a Loki or Skald ruler's remote evaluations).
    // It answers without the `auth` block's credentials, so where those guard the HTTP
    // API it is only served when the gRPC port asks for client certificates.
    if credentials.is_empty() || config.server.grpc_tls_config.client_ca_file.is_some() {
        grpc_routes.add_service(skald_frontend::http_over_grpc_service(api.clone()));
    } else {
        tracing::warn!(
            "httpgrpc (remote rule evaluation) is not served: HTTP credentials are configured and the gRPC port takes clients without certificates (set server.grpc_tls_config.client_ca_file)"
        );
    }
    let app = api.layer(axum::middleware::from_fn_with_state(credentials, skald_api::auth::authenticate));
    let serve_options = server::serve_options(config)?;
    let (stop_grpc, grpc_stopped) = tokio::sync::oneshot::channel::<()>();
    let grpc_tls = grpc_security::server_tls(&config.server.grpc_tls_config)?;
    let grpc = tokio::spawn(skald_grpc::serve(grpc_listener, grpc_routes.routes(), grpc_tls, async {
        let _ = grpc_stopped.await;
    }));
    tracing::info!(http = %http_local, grpc = %grpc_local, "cluster node listening");
    let stop = async {
        tokio::select! {
            _ = server::shutdown_signal() => {}
            _ = shutdown.requested() => {}
        }
    };
    skald_api::serve::serve(http_listener, app, serve_options, stop, Duration::from_secs(10)).await;

    // Leave gracefully: stop evaluating rules and taking writes, hand everything in
    // memory to storage, go.
    if let Some(ruler) = &ruler {
        ruler.stop();
    }
    if let Some(ingester) = &ingester {
        cluster.set_state(InstanceState::Leaving);
        tracing::info!("leaving the ring: flushing in-memory data");
        match ingester.flush(true).await {
            Ok(report) => tracing::info!(chunks = report.chunks, "flushed"),
            Err(error) => tracing::warn!(%error, "flush on shutdown failed; the WAL still holds the data"),
        }
    }
    if shutdown.already_left() {
        // `/ingester/shutdown` left the ring already.
    } else if ingester.is_none() || shutdown.unregister(config.ingester.lifecycler.unregister_on_shutdown) {
        cluster.leave().await;
    } else {
        // `unregister_on_shutdown: false`: stay in the ring, LEAVING, until this node is
        // back with its tokens (or forgotten); gossip just stops.
        tracing::info!("staying in the ring (ingester.lifecycler.unregister_on_shutdown is false)");
    }
    let _ = stop_grpc.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), grpc).await;
    Ok(())
}

/// Where a frontend without a querier relays live tails: `frontend.tail_proxy_url`, else
/// the healthy queriers of the cluster in turn.
fn tail_target(config: &Config, cluster: &Cluster) -> skald_frontend::TailTarget {
    let configured = config.frontend.tail_proxy_url.trim_end_matches('/').to_string();
    let cluster = cluster.clone();
    let turn = std::sync::atomic::AtomicUsize::new(0);
    Arc::new(move || {
        if !configured.is_empty() {
            return Ok(configured.clone());
        }
        let queriers: Vec<_> = cluster.members_with_role(RingRole::Querier).into_iter().filter(|m| m.healthy).collect();
        if queriers.is_empty() {
            return Err("no healthy querier to tail through (set frontend.tail_proxy_url)".to_string());
        }
        let index = turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % queriers.len();
        Ok(format!("http://{}", queriers[index].http_addr))
    })
}

/// Gossip: `memberlist` settings, this node's roles and addresses.
async fn join_cluster(config: &Config, roles: &Roles, advertise_ip: IpAddr, http: &str, grpc: &str) -> anyhow::Result<Cluster> {
    let memberlist = &config.memberlist;
    let lifecycler = &config.ingester.lifecycler;
    let bind_ip: IpAddr = match memberlist.bind_addr.first() {
        Some(addr) => addr.parse().with_context(|| format!("memberlist.bind_addr: '{addr}' is not an IP address"))?,
        None => "0.0.0.0".parse()?,
    };
    let heartbeat_timeout = config.common.ring.as_ref().map(|r| r.heartbeat_timeout).unwrap_or(lifecycler.ring.heartbeat_timeout);
    let cluster_config = ClusterConfig {
        node_name: memberlist.node_name.clone().unwrap_or_else(skald_ring::default_node_name),
        cluster_id: memberlist.cluster_label.clone(),
        gossip_listen: SocketAddr::new(bind_ip, memberlist.bind_port),
        gossip_advertise: SocketAddr::new(advertise_ip, memberlist.advertise_port.unwrap_or(memberlist.bind_port)),
        join_members: memberlist.join_members.clone(),
        gossip_interval: nanos(memberlist.gossip_interval),
        heartbeat_period: nanos(lifecycler.heartbeat_period),
        heartbeat_timeout: nanos(heartbeat_timeout),
    };
    let mut me = LocalMember::new(roles.to_vec(), http, grpc);
    if roles.has(Role::Ingester) {
        me.num_tokens = lifecycler.num_tokens;
        me.tokens_file = lifecycler.tokens_file_path.clone();
        me.zone = availability_zone(config);
        if me.zone.is_empty() && zone_awareness(config) {
            tracing::warn!(
                "zone_awareness_enabled without ingester.lifecycler.availability_zone: this ingester counts as a zone of its own"
            );
        }
    } else if roles.has(Role::Ruler) {
        // The ruler ring's tokens (an ingester's tokens serve both rings).
        me.num_tokens = config.ruler.ring.num_tokens;
    }
    Cluster::join(cluster_config, me).await.context("joining the cluster (memberlist)")
}

/// The address other nodes reach this one at: `memberlist.advertise_addr`, else the
/// listen address when it is a specific one, else this host's outward address.
fn advertise_ip(config: &Config, listen: IpAddr) -> anyhow::Result<IpAddr> {
    if let Some(addr) = &config.memberlist.advertise_addr {
        return addr.parse().with_context(|| format!("memberlist.advertise_addr: '{addr}' is not an IP address"));
    }
    if !listen.is_unspecified() {
        return Ok(listen);
    }
    // The address of the interface that routes outward (no packet is sent).
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").and_then(|socket| {
        socket.connect("10.255.255.255:9")?;
        socket.local_addr()
    });
    match probe {
        Ok(addr) if !addr.ip().is_unspecified() => Ok(addr.ip()),
        _ => {
            tracing::warn!("no outward address found: advertising 127.0.0.1 (set memberlist.advertise_addr)");
            Ok(IpAddr::from([127, 0, 0, 1]))
        }
    }
}

/// This ingester's zone: `ingester.lifecycler.availability_zone`, else
/// `common.ring.instance_availability_zone`.
fn availability_zone(config: &Config) -> String {
    let common = config.common.ring.as_ref().and_then(|ring| ring.instance_availability_zone.clone());
    config.ingester.lifecycler.availability_zone.clone().or(common).unwrap_or_default()
}

/// `ingester.lifecycler.ring.zone_awareness_enabled`, else `common.ring`'s, else off.
fn zone_awareness(config: &Config) -> bool {
    let common = config.common.ring.as_ref().and_then(|ring| ring.zone_awareness_enabled);
    config.ingester.lifecycler.ring.zone_awareness_enabled.or(common).unwrap_or(false)
}

/// `ingester.lifecycler.ring.replication_factor`, else `common.replication_factor`,
/// else `common.ring.replication_factor`, else 3 (Loki's default).
fn replication_factor(config: &Config) -> usize {
    config
        .ingester
        .lifecycler
        .ring
        .replication_factor
        .or(config.common.replication_factor.map(|rf| rf as usize))
        .or(config.common.ring.as_ref().and_then(|r| r.replication_factor))
        .unwrap_or(3)
        .max(1)
}
