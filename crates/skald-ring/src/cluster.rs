//! [`Cluster`]: this node's membership, run over chitchat.
//!
//! Chitchat gossips each node's key-values over UDP (scuttlebutt reconciliation) and
//! runs a phi-accrual failure detector. On top of it, a driver task owned by the
//! cluster:
//! - publishes this node's keys (see `view.rs`) and rewrites `heartbeat` every
//!   `heartbeat_period`;
//! - rebuilds the member list every half gossip interval into a snapshot behind a lock,
//!   so the synchronous getters ([`Cluster::members`], [`Cluster::ingester_ring`])
//!   never wait on the network, and bumps [`Cluster::subscribe`] when anything but
//!   heartbeat timestamps changed.
//!
//! Setters ([`Cluster::set_state`], [`Cluster::forget`]) change the local state, update
//! the snapshot at once and wake the driver, which publishes them.
//!
//! Dropping the last clone of a `Cluster` stops gossip without a word (as a crash
//! would): the others see the node go unhealthy. [`Cluster::leave`] announces the
//! departure first, and the others drop the node from their lists.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chitchat::transport::{Socket, Transport, UdpSocket};
use chitchat::{Chitchat, ChitchatConfig, ChitchatHandle, ChitchatId, FailureDetectorConfig, ProtocolVersion, spawn_chitchat};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::{ClusterConfig, LocalMember, normalize_join_members, resolve_advertise};
use crate::error::RingError;
use crate::member::{InstanceState, Member, Role};
use crate::ring::Ring;
use crate::tokens;
use crate::view::{self, GossipNode, LocalState, NodeRecord, View, now_ms};

/// A dead member stays listed this many heartbeat timeouts (then chitchat drops it).
const DEAD_MEMBER_TIMEOUTS: u32 = 10;

/// This node's handle on the cluster. Cheap to clone; all clones share one node.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    chitchat: Arc<tokio::sync::Mutex<Chitchat>>,
    handle: Mutex<Option<ChitchatHandle>>,
    driver: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.lock().take() {
            driver.abort();
        }
        if let Some(handle) = self.handle.lock().take() {
            handle.abort();
        }
    }
}

/// What the driver task and the handle share.
struct Shared {
    config: ClusterConfig,
    self_id: ChitchatId,
    local: Mutex<LocalState>,
    view: RwLock<Arc<View>>,
    changes: watch::Sender<u64>,
    wake: Notify,
}

/// Hands chitchat the socket `join` already bound, so a port-0 listen address works
/// (the advertised port must be known before chitchat starts).
struct BoundTransport {
    socket: Mutex<Option<UdpSocket>>,
}

#[async_trait::async_trait]
impl Transport for BoundTransport {
    async fn open(&self, listen_addr: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        match self.socket.lock().take() {
            Some(socket) => Ok(Box::new(socket)),
            None => Err(anyhow::anyhow!("gossip socket for {listen_addr} already taken")),
        }
    }
}

impl Cluster {
    /// Opens the gossip socket, announces `me` and starts gossiping with the seeds.
    /// Returns at once; peers appear as gossip reaches them (see [`Cluster::subscribe`]).
    pub async fn join(config: ClusterConfig, me: LocalMember) -> Result<Cluster, RingError> {
        config.validate()?;
        let tokens = tokens::load_or_generate(me.num_tokens, me.tokens_file.as_deref())?;
        let socket = UdpSocket::open(config.gossip_listen)
            .await
            .map_err(|error| RingError::Bind { addr: config.gossip_listen, message: error.to_string() })?;
        let bound = socket.local_addr().map_err(|error| RingError::Bind { addr: config.gossip_listen, message: error.to_string() })?;
        let advertise = resolve_advertise(config.gossip_advertise, bound).await;
        let mut seeds = normalize_join_members(&config.join_members, advertise.port())?;
        seeds.retain(|seed| *seed != advertise.to_string());

        let joined_ms = now_ms();
        let generation = u64::try_from(joined_ms).unwrap_or(0);
        let self_id = ChitchatId::new(config.node_name.clone(), generation, advertise);
        let local = LocalState {
            roles: me.roles,
            http_addr: me.http_addr,
            grpc_addr: me.grpc_addr,
            state: me.initial_state,
            tokens,
            heartbeat_ms: joined_ms,
            registered_ms: joined_ms,
            zone: me.zone,
            left: false,
            forgets: BTreeMap::new(),
        };
        let initial_keys = local.key_values().into_iter().map(|pair| (pair.key, pair.value)).collect();

        let dead_grace = config.heartbeat_timeout * DEAD_MEMBER_TIMEOUTS;
        let chitchat_config = ChitchatConfig {
            chitchat_id: self_id.clone(),
            cluster_id: config.cluster_id.clone(),
            gossip_interval: config.gossip_interval,
            listen_addr: bound,
            seed_nodes: seeds,
            failure_detector_config: FailureDetectorConfig {
                initial_interval: config.gossip_interval,
                dead_node_grace_period: dead_grace,
                ..FailureDetectorConfig::default()
            },
            marked_for_deletion_grace_period: dead_grace * 2,
            catchup_callback: None,
            extra_liveness_predicate: None,
            // Every node runs this crate's chitchat, which reads the compressed digest.
            protocol_version: ProtocolVersion::V1,
        };
        let transport = BoundTransport { socket: Mutex::new(Some(socket)) };
        let handle = spawn_chitchat(chitchat_config, initial_keys, &transport)
            .await
            .map_err(|error| RingError::Bind { addr: bound, message: error.to_string() })?;
        tracing::info!(node = %config.node_name, gossip = %advertise, "joined gossip cluster");

        let self_record = self_record(&self_id, &local);
        let (changes, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            config,
            self_id,
            local: Mutex::new(local),
            view: RwLock::new(Arc::new(View::new(vec![self_record]))),
            changes,
            wake: Notify::new(),
        });
        let chitchat = handle.chitchat();
        let driver = tokio::spawn(drive(shared.clone(), chitchat.clone()));
        Ok(Cluster { inner: Arc::new(Inner { shared, chitchat, handle: Mutex::new(Some(handle)), driver: Mutex::new(Some(driver)) }) })
    }

    /// This node's id (`node_name`).
    pub fn id(&self) -> &str {
        &self.inner.shared.self_id.node_id
    }

    /// The gossip address others dial.
    pub fn gossip_advertise(&self) -> SocketAddr {
        self.inner.shared.self_id.gossip_advertise_addr
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.inner.shared.config
    }

    /// Everyone, this node included, sorted by id, with `healthy` as of the last
    /// refresh (at most half a gossip interval old).
    pub fn members(&self) -> Vec<Member> {
        let view = self.view();
        view.records.iter().map(|record| record.member.clone()).collect()
    }

    pub fn members_with_role(&self, role: Role) -> Vec<Member> {
        let mut members = self.members();
        members.retain(|member| member.has_role(role));
        members
    }

    /// Moves this node's ring state (JOINING -> ACTIVE -> LEAVING).
    pub fn set_state(&self, state: InstanceState) {
        self.inner.shared.local.lock().state = state;
        self.inner.shared.refresh_self();
        self.inner.shared.wake.notify_one();
    }

    /// This node's ring state.
    pub fn state(&self) -> InstanceState {
        self.inner.shared.local.lock().state
    }

    /// A snapshot of the ingesters (members with the ingester role) and their tokens.
    /// Built once per refresh; this is a cheap clone, fine to call per request.
    pub fn ingester_ring(&self) -> Ring {
        self.view().ingester_ring.clone()
    }

    /// Drops `id` from every node's list (the /ring "Forget" button). A member that is
    /// in fact alive reappears with its next heartbeat, as in Loki. Forgetting this
    /// node itself or an unknown id does nothing.
    pub fn forget(&self, id: &str) {
        let shared = &self.inner.shared;
        let view = self.view();
        let Some(record) = view.records.iter().find(|record| record.member.id == id) else {
            return;
        };
        if record.is_self {
            return;
        }
        let note = view::forget_note(record);
        tracing::info!(node = %id, "forgetting cluster member");
        {
            // Under the local lock, as every publish of local state (see refresh_self).
            let mut local = shared.local.lock();
            local.forgets.insert(id.to_string(), (note, std::time::Instant::now()));
            let mut records = shared.view.read().records.clone();
            records.retain(|record| record.member.id != id);
            shared.publish(View::new(records));
        }
        shared.wake.notify_one();
    }

    /// Announces that this node leaves (state LEAVING, unregistered from the ring),
    /// makes sure live peers heard it, and stops gossip. Getters keep answering from
    /// the last snapshot.
    pub async fn leave(&self) {
        let shared = &self.inner.shared;
        {
            let mut local = shared.local.lock();
            local.state = InstanceState::Leaving;
            local.left = true;
        }
        shared.refresh_self();
        if let Some(driver) = self.inner.driver.lock().take() {
            driver.abort();
        }
        let peers = {
            let mut chitchat = self.inner.chitchat.lock().await;
            publish_keys(shared, &mut chitchat);
            let mut peers = Vec::new();
            for id in chitchat.live_nodes() {
                if *id != shared.self_id {
                    peers.push(id.gossip_advertise_addr);
                }
            }
            peers
        };
        let handle = self.inner.handle.lock().take();
        let Some(handle) = handle else {
            return;
        };
        for peer in peers {
            if let Err(error) = handle.gossip(peer) {
                tracing::warn!(%peer, %error, "cannot announce leaving");
            }
        }
        // Let the exchange (syn, syn-ack, ack) finish, and a regular round or two pass.
        let linger = (shared.config.gossip_interval * 3).min(Duration::from_secs(3));
        tokio::time::sleep(linger).await;
        if let Err(error) = handle.shutdown().await {
            tracing::warn!(%error, "gossip stopped with an error");
        }
        tracing::info!(node = %shared.config.node_name, "left gossip cluster");
    }

    /// Bumps whenever membership, a state, tokens or health change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.shared.changes.subscribe()
    }

    pub(crate) fn view(&self) -> Arc<View> {
        self.inner.shared.view.read().clone()
    }
}

impl Shared {
    /// Replaces the snapshot, bumping subscribers when it changed.
    fn publish(&self, view: View) {
        let changed = {
            let mut current = self.view.write();
            let changed = current.fingerprint != view.fingerprint;
            *current = Arc::new(view);
            changed
        };
        if changed {
            self.changes.send_modify(|version| *version += 1);
        }
    }

    /// Puts the local state into the snapshot at once (the driver publishes it later).
    ///
    /// Every "read local state, publish a view" runs under the `local` lock, so a view
    /// built from older local state can never replace a newer one.
    fn refresh_self(&self) {
        let local = self.local.lock();
        let mut records = self.view.read().records.clone();
        records.retain(|existing| !existing.is_self);
        records.push(self_record(&self.self_id, &local));
        self.publish(View::new(records));
    }
}

fn self_record(self_id: &ChitchatId, local: &LocalState) -> NodeRecord {
    NodeRecord {
        member: Member {
            id: self_id.node_id.to_string(),
            roles: local.roles.clone(),
            http_addr: local.http_addr.clone(),
            grpc_addr: local.grpc_addr.clone(),
            state: local.state,
            tokens: local.tokens.clone(),
            heartbeat: local.heartbeat_ms,
            registered: local.registered_ms,
            zone: local.zone.clone(),
            healthy: true,
        },
        generation: self_id.generation_id,
        gossip_addr: self_id.gossip_advertise_addr,
        registered_ms: local.registered_ms,
        live: true,
        is_self: true,
    }
}

/// Writes the local keys into chitchat (unchanged values cost nothing).
fn publish_keys(shared: &Shared, chitchat: &mut Chitchat) {
    let pairs = shared.local.lock().key_values();
    let state = chitchat.self_node_state();
    for pair in pairs {
        if pair.expires {
            state.set_with_ttl(pair.key, pair.value);
        } else {
            state.set(pair.key, pair.value);
        }
    }
}

/// Copies every node's keys and liveness out of chitchat.
fn copy_nodes(chitchat: &Chitchat) -> Vec<GossipNode> {
    let live: HashSet<&ChitchatId> = chitchat.live_nodes().collect();
    let mut nodes = Vec::new();
    for (id, state) in chitchat.node_states() {
        let mut keys = std::collections::HashMap::new();
        for (key, value) in state.key_values() {
            keys.insert(key.to_string(), value.to_string());
        }
        nodes.push(GossipNode {
            node_id: id.node_id.to_string(),
            generation: id.generation_id,
            gossip_addr: id.gossip_advertise_addr,
            keys,
            live: live.contains(id),
        });
    }
    nodes
}

/// The driver: heartbeats, publishes local keys, refreshes the snapshot.
async fn drive(shared: Arc<Shared>, chitchat: Arc<tokio::sync::Mutex<Chitchat>>) {
    let config = &shared.config;
    let refresh = (config.gossip_interval.min(config.heartbeat_period) / 2).max(Duration::from_millis(10));
    let forget_keep = config.heartbeat_timeout * DEAD_MEMBER_TIMEOUTS;
    let mut ticker = tokio::time::interval(refresh);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_heartbeat = tokio::time::Instant::now() + config.heartbeat_period;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shared.wake.notified() => {}
        }
        if tokio::time::Instant::now() >= next_heartbeat {
            shared.local.lock().heartbeat_ms = now_ms();
            next_heartbeat = tokio::time::Instant::now() + config.heartbeat_period;
        }
        shared.local.lock().prune_forgets(forget_keep);
        let nodes = {
            let mut guard = chitchat.lock().await;
            publish_keys(&shared, &mut guard);
            copy_nodes(&guard)
        };
        // Under the local lock, so a concurrent set_state or forget is either already in
        // this view or published after it.
        let local = shared.local.lock();
        let record = self_record(&shared.self_id, &local);
        let view = view::build_view(record, &local.forgets, nodes, now_ms(), config.heartbeat_timeout);
        shared.publish(view);
        drop(local);
    }
}
