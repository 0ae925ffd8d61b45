//! Cluster membership by gossip, and the ingester hash ring.
//!
//! Every Skald node joins one gossip cluster ([`Cluster::join`]) whatever roles it runs,
//! like Loki's `memberlist` KV store: membership, roles, addresses, ring states and
//! ingester tokens travel by gossip (the `chitchat` crate: UDP, scuttlebutt
//! reconciliation, phi-accrual failure detection), so no etcd or Consul is needed.
//!
//! Invariants:
//! - a node writes only its own gossip keys (`view.rs` lists them); everything another
//!   node does to it (forget) is a note the other node gossips;
//! - a member is healthy when the failure detector thinks it alive *and* its
//!   `heartbeat` key (rewritten every `heartbeat_period`) is within `heartbeat_timeout`
//!   of now, as Loki judges ring heartbeats; a dead member stays listed, unhealthy,
//!   until forgotten or ten heartbeat timeouts have passed;
//! - [`Ring`] is an immutable snapshot; replica choice follows dskit's `ring.Get` and
//!   default replication strategy (see `ring.rs`).
//!
//! [`ruler_ring`] decides which ruler evaluates each rule group.
//!
//! [`router`] serves Loki's /ring status page and /memberlist.

mod autoforget;
mod cluster;
mod config;
mod error;
mod http;
mod member;
mod ring;
mod ruler_ring;
mod tokens;
mod view;
mod zones;

pub use autoforget::stale_ingesters;
pub use cluster::Cluster;
pub use config::{ClusterConfig, DEFAULT_GOSSIP_PORT, DEFAULT_NUM_TOKENS, LocalMember, default_node_name};
pub use error::RingError;
pub use http::router;
pub use member::{InstanceState, Member, Role, UnknownName};
pub use ring::{Operation, ReplicationSet, Ring};
pub use ruler_ring::{group_owner, group_token, ruler_ring};
