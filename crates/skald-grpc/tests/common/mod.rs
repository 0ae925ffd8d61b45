//! A small cluster for tests: real ingesters (WAL in a temp dir, local store) behind
//! real tonic servers on loopback ephemeral ports, a distributor pushing through
//! `ReplicatedPush`, and a querier reading through `RemoteRecentData`.

#![allow(dead_code)]

use skald_common::{Entry, LabelSet, Limits, PushStream};
use skald_distributor::Distributor;
use skald_grpc::{
    ClientConfig, IngesterClientPool, Instance, MessageLimits, RemoteRecentData, ReplicaPicker, Replicas, ReplicatedPush, StaticIngesters,
    ingester_service,
};
use skald_ingester::{Ingester, IngesterConfig};
use skald_querier::Querier;
use skald_storage::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tonic::service::Routes;

pub fn limits_fn(limits: Limits) -> Arc<dyn Fn(&str) -> Limits + Send + Sync> {
    Arc::new(move |_: &str| limits.clone())
}

/// One ingester with its own data directory and gRPC server.
pub struct TestIngester {
    pub id: String,
    pub ingester: Arc<Ingester>,
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestIngester {
    pub async fn start(id: &str, max_streams: usize, limits: MessageLimits) -> TestIngester {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(Store::local(&dir.path().join("store"), id, 16 << 20).expect("store"));
        let mut config = IngesterConfig::new(dir.path());
        config.wal_enabled = true;
        config.max_streams_per_tenant = max_streams;
        let (ingester, replay) = Ingester::open(config, store).expect("open ingester");
        if let Some(replay) = replay {
            ingester.replay(replay).expect("replay");
        }
        // As the server does: compression off the push path.
        ingester.start_cutter().expect("cutter thread");
        // Its own runtime on its own thread, so that stopping it drops every connection
        // and stream at once, as a crashed process would.
        let (shutdown, stopped) = oneshot::channel::<()>();
        let (bound, addr) = std::sync::mpsc::channel::<SocketAddr>();
        let service = ingester.clone();
        let server = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                bound.send(listener.local_addr().expect("addr")).expect("report address");
                let routes = Routes::new(ingester_service(service, limits));
                tokio::spawn(skald_grpc::serve(listener, routes, None, std::future::pending()));
                let _ = stopped.await;
            });
            runtime.shutdown_background();
        });
        let addr = addr.recv().expect("ingester server address");
        TestIngester { id: id.to_string(), ingester, addr, shutdown: Some(shutdown), server: Some(server), _dir: dir }
    }

    pub fn instance(&self) -> Instance {
        Instance { id: self.id.clone(), grpc_addr: self.addr.to_string() }
    }

    /// Takes the ingester off the network: its server stops and its port closes.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::task::spawn_blocking(move || server.join()).await;
        }
    }

    /// Entries this ingester holds for `tenant` in streams with `app="{app}"`.
    pub fn entries(&self, tenant: &str, app: &str) -> usize {
        let matcher = skald_index::LabelMatcher::Eq("app".into(), app.into());
        let snapshots = self.ingester.select(tenant, &[matcher], i64::MIN, i64::MAX);
        snapshots.iter().flat_map(|s| s.blocks.iter()).map(|b| b.meta.entries as usize).sum()
    }
}

/// Every stream goes to every listed ingester; `max_errors` may fail.
pub struct AllReplicas {
    pub instances: Vec<Instance>,
    pub max_errors: usize,
}

impl ReplicaPicker for AllReplicas {
    fn pick(&self, _tenant: &str, _labels: &LabelSet) -> Result<Replicas, String> {
        Ok(Replicas { instances: self.instances.clone(), max_errors: self.max_errors })
    }
}

pub struct Cluster {
    pub ingesters: Vec<TestIngester>,
    pub pool: Arc<IngesterClientPool>,
    pub distributor: Arc<Distributor>,
    pub querier: Querier,
    _querier_dir: tempfile::TempDir,
}

impl Cluster {
    /// `count` ingesters, every stream replicated to all of them (RF = count).
    pub async fn start(count: usize, max_streams: usize) -> Cluster {
        Cluster::start_with(count, max_streams, MessageLimits::default()).await
    }

    /// As [`Cluster::start`], with the ingesters' gRPC message limits.
    pub async fn start_with(count: usize, max_streams: usize, ingester_limits: MessageLimits) -> Cluster {
        let mut ingesters = Vec::new();
        for i in 0..count {
            ingesters.push(TestIngester::start(&format!("ingester-{i}"), max_streams, ingester_limits).await);
        }
        let instances: Vec<Instance> = ingesters.iter().map(TestIngester::instance).collect();
        let max_errors = (count - 1) / 2;
        let config = ClientConfig { remote_timeout: Duration::from_secs(5), ..ClientConfig::default() };
        let pool = Arc::new(IngesterClientPool::new(config));
        let picker = Arc::new(AllReplicas { instances: instances.clone(), max_errors });
        let limits = limits_fn(Limits { ingestion_rate_mb: 1024.0, ingestion_burst_size_mb: 1024.0, ..Limits::default() });
        let distributor = Arc::new(Distributor::new(limits.clone(), Arc::new(ReplicatedPush::new(picker, pool.clone()))));
        let querier_dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(Store::local(querier_dir.path(), "querier", 16 << 20).expect("store"));
        let set = Arc::new(StaticIngesters { instances, max_errors });
        let recent = Arc::new(RemoteRecentData::new(set, pool.clone(), skald_grpc::DEFAULT_QUERY_INGESTERS_WITHIN));
        let querier = Querier::new(recent, store, limits);
        Cluster { ingesters, pool, distributor, querier, _querier_dir: querier_dir }
    }
}

/// `count` entries a microsecond apart, ending about now.
pub fn stream(labels: &[(&str, &str)], count: usize, prefix: &str) -> PushStream {
    let now = skald_common::unix_nanos_now();
    let start = now - count as i64 * 1_000;
    let entries = (0..count).map(|i| Entry::new(start + i as i64 * 1_000, format!("{prefix} line {i} level=info"))).collect();
    PushStream { labels: LabelSet::from_pairs(labels.iter().copied()), entries }
}

pub fn raw(stream: PushStream) -> skald_push::RawStream {
    skald_push::RawStream { labels: skald_push::StreamLabels::Map(stream.labels.into_vec()), entries: stream.entries }
}
