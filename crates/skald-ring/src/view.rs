//! Turning gossip state into [`Member`]s.
//!
//! Each node publishes its own keys (chitchat only lets a node write its own state):
//!
//! | key | value |
//! |---|---|
//! | `roles` | `distributor,ingester` |
//! | `http_addr`, `grpc_addr` | `host:port` |
//! | `state` | `JOINING`, `ACTIVE`, ... |
//! | `tokens` | decimal tokens, comma separated |
//! | `heartbeat` | unix ms, rewritten every `heartbeat_period` |
//! | `registered` | unix ms when the node joined |
//! | `zone` | its availability zone, when it has one |
//! | `left` | present once the node left on purpose (Loki unregisters it from the ring) |
//! | `forget:<id>` | `<generation>:<heartbeat>`: this node forgot `<id>` (the /ring button) |
//!
//! Since nobody can delete another node's state, "forget" is a note gossiped by the
//! node that forgot: everyone hides the forgotten node while its generation and
//! heartbeat are no newer than the note. A node that is in fact alive heartbeats past
//! the note and shows up again, which is what Loki does when a live instance is
//! forgotten (it re-registers on its next heartbeat). The note expires with chitchat's
//! tombstone grace period, after chitchat has dropped the dead node itself.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::member::{InstanceState, Member, Role, decode_roles, decode_tokens, encode_roles, encode_tokens};
use crate::ring::Ring;

pub(crate) const KEY_ROLES: &str = "roles";
pub(crate) const KEY_HTTP_ADDR: &str = "http_addr";
pub(crate) const KEY_GRPC_ADDR: &str = "grpc_addr";
pub(crate) const KEY_STATE: &str = "state";
pub(crate) const KEY_TOKENS: &str = "tokens";
pub(crate) const KEY_HEARTBEAT: &str = "heartbeat";
pub(crate) const KEY_REGISTERED: &str = "registered";
pub(crate) const KEY_ZONE: &str = "zone";
pub(crate) const KEY_LEFT: &str = "left";
pub(crate) const FORGET_PREFIX: &str = "forget:";

/// Milliseconds since the unix epoch.
pub(crate) fn now_ms() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(elapsed) => i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// This node's own announced state; the source of its gossip keys.
#[derive(Debug, Clone)]
pub(crate) struct LocalState {
    pub roles: Vec<Role>,
    pub http_addr: String,
    pub grpc_addr: String,
    pub state: InstanceState,
    pub tokens: Vec<u32>,
    pub heartbeat_ms: i64,
    pub registered_ms: i64,
    /// The availability zone, empty for none.
    pub zone: String,
    pub left: bool,
    /// Forgotten node id -> (note value, when noted); pruned before chitchat expires it.
    pub forgets: BTreeMap<String, (String, Instant)>,
}

/// A key to publish, and whether chitchat should expire it after its grace period.
pub(crate) struct KeyValue {
    pub key: String,
    pub value: String,
    pub expires: bool,
}

impl LocalState {
    pub fn key_values(&self) -> Vec<KeyValue> {
        let plain = |key: &str, value: String| KeyValue { key: key.to_string(), value, expires: false };
        let mut pairs = vec![
            plain(KEY_ROLES, encode_roles(&self.roles)),
            plain(KEY_HTTP_ADDR, self.http_addr.clone()),
            plain(KEY_GRPC_ADDR, self.grpc_addr.clone()),
            plain(KEY_STATE, self.state.as_str().to_string()),
            plain(KEY_TOKENS, encode_tokens(&self.tokens)),
            plain(KEY_HEARTBEAT, self.heartbeat_ms.to_string()),
            plain(KEY_REGISTERED, self.registered_ms.to_string()),
        ];
        if !self.zone.is_empty() {
            pairs.push(plain(KEY_ZONE, self.zone.clone()));
        }
        if self.left {
            pairs.push(plain(KEY_LEFT, "1".to_string()));
        }
        for (id, (note, _)) in &self.forgets {
            pairs.push(KeyValue { key: format!("{FORGET_PREFIX}{id}"), value: note.clone(), expires: true });
        }
        pairs
    }

    /// Drops forget notes older than `keep` (chitchat still gossips them until its own
    /// grace period ends; we only stop re-publishing them).
    pub fn prune_forgets(&mut self, keep: Duration) {
        self.forgets.retain(|_, (_, noted)| noted.elapsed() < keep);
    }
}

/// One node's gossip state, copied out of chitchat.
#[derive(Debug, Clone)]
pub(crate) struct GossipNode {
    pub node_id: String,
    pub generation: u64,
    pub gossip_addr: SocketAddr,
    pub keys: HashMap<String, String>,
    /// Alive for chitchat's failure detector.
    pub live: bool,
}

/// A member plus what only /ring and /memberlist show.
#[derive(Debug, Clone)]
pub(crate) struct NodeRecord {
    pub member: Member,
    pub generation: u64,
    pub gossip_addr: SocketAddr,
    pub registered_ms: i64,
    pub live: bool,
    pub is_self: bool,
}

/// The cluster as this node sees it, sorted by id.
#[derive(Debug, Clone, Default)]
pub(crate) struct View {
    pub records: Vec<NodeRecord>,
    /// Changes when anything but heartbeat timestamps changes.
    pub fingerprint: u64,
    /// The members with the ingester role, as a ring.
    pub ingester_ring: Ring,
}

impl View {
    pub fn new(mut records: Vec<NodeRecord>) -> View {
        records.sort_by(|a, b| a.member.id.cmp(&b.member.id));
        let mut hasher = DefaultHasher::new();
        for record in &records {
            let member = &record.member;
            (&member.id, &member.roles, member.state, &member.tokens).hash(&mut hasher);
            (&member.http_addr, &member.grpc_addr, member.healthy).hash(&mut hasher);
            (record.generation, record.gossip_addr).hash(&mut hasher);
        }
        let mut ingesters = Vec::new();
        for record in &records {
            if record.member.has_role(Role::Ingester) {
                ingesters.push(record.member.clone());
            }
        }
        View { records, fingerprint: hasher.finish(), ingester_ring: Ring::new(ingesters) }
    }
}

/// Builds the view from the gossip state of every node (this one included, as
/// `self_record`).
pub(crate) fn build_view(
    self_record: NodeRecord,
    local_forgets: &BTreeMap<String, (String, Instant)>,
    nodes: Vec<GossipNode>,
    now_ms: i64,
    heartbeat_timeout: Duration,
) -> View {
    let forgets = collect_forgets(local_forgets, &nodes);
    let timeout_ms = i64::try_from(heartbeat_timeout.as_millis()).unwrap_or(i64::MAX);
    // The newest generation of each node id wins (an old one is a previous run).
    let mut newest: BTreeMap<String, NodeRecord> = BTreeMap::new();
    for node in nodes {
        if node.node_id == self_record.member.id {
            continue;
        }
        let Some(record) = record_from_gossip(&node, now_ms, timeout_ms) else {
            continue;
        };
        let replace = match newest.get(&node.node_id) {
            Some(existing) => existing.generation < record.generation,
            None => true,
        };
        if replace {
            newest.insert(node.node_id.clone(), record);
        }
    }
    let mut records = vec![self_record];
    for (id, record) in newest {
        if is_forgotten(&forgets, &id, &record) {
            continue;
        }
        records.push(record);
    }
    View::new(records)
}

/// A member from its gossip keys; `None` while its keys have not all arrived, or when
/// it left on purpose.
fn record_from_gossip(node: &GossipNode, now_ms: i64, timeout_ms: i64) -> Option<NodeRecord> {
    if node.keys.contains_key(KEY_LEFT) {
        return None;
    }
    let roles = decode_roles(node.keys.get(KEY_ROLES)?);
    let state = node.keys.get(KEY_STATE)?.parse().ok()?;
    let heartbeat: i64 = node.keys.get(KEY_HEARTBEAT)?.parse().ok()?;
    let registered_ms = match node.keys.get(KEY_REGISTERED) {
        Some(text) => text.parse().unwrap_or(0),
        None => 0,
    };
    let tokens = match node.keys.get(KEY_TOKENS) {
        Some(text) => decode_tokens(text),
        None => Vec::new(),
    };
    let fresh = now_ms.saturating_sub(heartbeat) <= timeout_ms;
    let member = Member {
        id: node.node_id.clone(),
        roles,
        http_addr: node.keys.get(KEY_HTTP_ADDR).cloned().unwrap_or_default(),
        grpc_addr: node.keys.get(KEY_GRPC_ADDR).cloned().unwrap_or_default(),
        state,
        tokens,
        heartbeat,
        registered: registered_ms,
        zone: node.keys.get(KEY_ZONE).cloned().unwrap_or_default(),
        healthy: node.live && fresh,
    };
    Some(NodeRecord { member, generation: node.generation, gossip_addr: node.gossip_addr, registered_ms, live: node.live, is_self: false })
}

/// Forgotten id -> the newest (generation, heartbeat) any node forgot it at.
fn collect_forgets(local_forgets: &BTreeMap<String, (String, Instant)>, nodes: &[GossipNode]) -> HashMap<String, (u64, i64)> {
    let mut forgets: HashMap<String, (u64, i64)> = HashMap::new();
    let mut note = |id: &str, value: &str| {
        let Some((generation, heartbeat)) = value.split_once(':') else {
            return;
        };
        let (Ok(generation), Ok(heartbeat)) = (generation.parse(), heartbeat.parse()) else {
            return;
        };
        let entry = forgets.entry(id.to_string()).or_insert((generation, heartbeat));
        if (generation, heartbeat) > *entry {
            *entry = (generation, heartbeat);
        }
    };
    for (id, (value, _)) in local_forgets {
        note(id, value);
    }
    for node in nodes {
        for (key, value) in &node.keys {
            if let Some(id) = key.strip_prefix(FORGET_PREFIX) {
                note(id, value);
            }
        }
    }
    forgets
}

fn is_forgotten(forgets: &HashMap<String, (u64, i64)>, id: &str, record: &NodeRecord) -> bool {
    match forgets.get(id) {
        Some(&(generation, heartbeat)) => {
            record.generation < generation || (record.generation == generation && record.member.heartbeat <= heartbeat)
        }
        None => false,
    }
}

/// The note gossiped when `record` is forgotten.
pub(crate) fn forget_note(record: &NodeRecord) -> String {
    format!("{}:{}", record.generation, record.member.heartbeat)
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
