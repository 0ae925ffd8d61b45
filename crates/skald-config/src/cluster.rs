//! Configuration of the roles that talk to each other (Loki's microservices mode):
//! gossip (`memberlist`), the ingester ring (`ingester.lifecycler`, `common.ring`), the
//! ingester clients and the gRPC server. Key names and defaults are Loki's.

use serde::{Deserialize, Serialize};
use skald_common::limits::de_duration;
use std::path::PathBuf;

const SECOND: i64 = 1_000_000_000;

/// `memberlist`: the gossip cluster every node of a deployment joins.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct MemberlistSection {
    /// Unique name of this node (default: hostname and process id).
    pub node_name: Option<String>,
    pub bind_addr: Vec<String>,
    pub bind_port: u16,
    pub advertise_addr: Option<String>,
    pub advertise_port: Option<u16>,
    /// Seeds (`host:port`), as in Loki.
    pub join_members: Vec<String>,
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub gossip_interval: i64,
    /// Nodes with another label never join this cluster.
    pub cluster_label: String,
}

impl Default for MemberlistSection {
    fn default() -> Self {
        MemberlistSection {
            node_name: None,
            bind_addr: Vec::new(),
            bind_port: skald_ring::DEFAULT_GOSSIP_PORT,
            advertise_addr: None,
            advertise_port: None,
            join_members: Vec::new(),
            gossip_interval: SECOND / 5,
            cluster_label: "skald".into(),
        }
    }
}

/// `ingester.lifecycler`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct LifecyclerSection {
    pub ring: RingSection,
    pub num_tokens: usize,
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub heartbeat_period: i64,
    pub tokens_file_path: Option<PathBuf>,
    /// Accepted for compatibility: Skald joins as soon as its WAL is replayed.
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub join_after: i64,
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub final_sleep: i64,
    /// This ingester's availability zone (zone-aware replication).
    pub availability_zone: Option<String>,
    /// Leave the ring on a clean shutdown (else stay, LEAVING, until the node is back or
    /// forgotten; `/ingester/prepare_shutdown` overrides it for the next shutdown).
    pub unregister_on_shutdown: bool,
}

impl Default for LifecyclerSection {
    fn default() -> Self {
        LifecyclerSection {
            ring: RingSection::default(),
            num_tokens: skald_ring::DEFAULT_NUM_TOKENS,
            heartbeat_period: 5 * SECOND,
            tokens_file_path: None,
            join_after: 0,
            final_sleep: 0,
            unregister_on_shutdown: true,
            availability_zone: None,
        }
    }
}

/// A ring's settings (`ingester.lifecycler.ring`, `common.ring`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RingSection {
    pub replication_factor: Option<usize>,
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub heartbeat_timeout: i64,
    pub kvstore: KvStoreSection,
    /// Each stream's replicas in distinct availability zones.
    pub zone_awareness_enabled: Option<bool>,
    /// `common.ring.instance_availability_zone`: this node's zone (only `common.ring`
    /// has the key; the checker refuses it elsewhere, so it is not printed when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_availability_zone: Option<String>,
}

impl Default for RingSection {
    fn default() -> Self {
        RingSection {
            replication_factor: None,
            heartbeat_timeout: 60 * SECOND,
            kvstore: KvStoreSection::default(),
            zone_awareness_enabled: None,
            instance_availability_zone: None,
        }
    }
}

/// `kvstore`: only `memberlist` (gossip) and `inmemory` (a single process) exist here.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct KvStoreSection {
    pub store: String,
}

impl Default for KvStoreSection {
    fn default() -> Self {
        KvStoreSection { store: "memberlist".into() }
    }
}

/// `ingester_client`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct IngesterClientSection {
    #[serde(deserialize_with = "de_duration", serialize_with = "skald_common::limits::ser_duration")]
    pub remote_timeout: i64,
    /// TLS towards the ingesters.
    pub grpc_client_config: skald_common::GrpcClientConfig,
}

impl Default for IngesterClientSection {
    fn default() -> Self {
        IngesterClientSection { remote_timeout: 5 * SECOND, grpc_client_config: Default::default() }
    }
}
