//! How a node joins the cluster ([`ClusterConfig`], Loki's `memberlist` block plus the
//! lifecycler's heartbeat settings) and what it announces about itself
//! ([`LocalMember`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::RingError;
use crate::member::{InstanceState, Role};

/// Loki's default `memberlist.bind_port`.
pub const DEFAULT_GOSSIP_PORT: u16 = 7946;

/// Loki's default `ingester.lifecycler.num_tokens`.
pub const DEFAULT_NUM_TOKENS: usize = 128;

/// Gossip and heartbeat settings, shared by every role of a node.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Unique in the cluster; default `hostname-pid`.
    pub node_name: String,
    /// Nodes only talk to nodes with the same id.
    pub cluster_id: String,
    /// `memberlist.bind_addr:bind_port`; port 0 picks a free port.
    pub gossip_listen: SocketAddr,
    /// What others dial. An unspecified IP (0.0.0.0) is replaced by this host's address
    /// (its name resolved, else the listen IP, else 127.0.0.1); port 0 by the listen port.
    pub gossip_advertise: SocketAddr,
    /// `memberlist.join_members`: `host:port` seeds, resolved by DNS (again every
    /// minute); `dns+host:port` is accepted; a missing port means the advertise port.
    pub join_members: Vec<String>,
    pub gossip_interval: Duration,
    /// `ingester.lifecycler.heartbeat_period`.
    pub heartbeat_period: Duration,
    /// `ingester.lifecycler.ring.heartbeat_timeout`: older heartbeats are unhealthy.
    /// A dead member is dropped from the list after ten times this.
    pub heartbeat_timeout: Duration,
}

impl Default for ClusterConfig {
    fn default() -> ClusterConfig {
        let listen = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_GOSSIP_PORT);
        ClusterConfig {
            node_name: default_node_name(),
            cluster_id: "skald".to_string(),
            gossip_listen: listen,
            gossip_advertise: listen,
            join_members: Vec::new(),
            gossip_interval: Duration::from_millis(500),
            heartbeat_period: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(60),
        }
    }
}

impl ClusterConfig {
    /// A configuration for tests on loopback: a free port, short intervals.
    pub fn for_local_test(node_name: &str) -> ClusterConfig {
        let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        ClusterConfig {
            node_name: node_name.to_string(),
            cluster_id: "skald-test".to_string(),
            gossip_listen: loopback,
            gossip_advertise: loopback,
            join_members: Vec::new(),
            gossip_interval: Duration::from_millis(50),
            heartbeat_period: Duration::from_millis(200),
            heartbeat_timeout: Duration::from_secs(2),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), RingError> {
        let invalid = |key, reason: &str| Err(RingError::InvalidConfig { key, reason: reason.to_string() });
        if self.node_name.is_empty() {
            return invalid("memberlist.node_name", "must not be empty");
        }
        if self.gossip_interval.is_zero() {
            return invalid("memberlist.gossip_interval", "must be greater than 0");
        }
        if self.heartbeat_period.is_zero() {
            return invalid("ingester.lifecycler.heartbeat_period", "must be greater than 0");
        }
        if self.heartbeat_timeout <= self.heartbeat_period {
            return invalid("ingester.lifecycler.ring.heartbeat_timeout", "must be longer than heartbeat_period");
        }
        Ok(())
    }
}

/// What this node announces: its roles, addresses and (for ingesters) tokens.
#[derive(Debug, Clone)]
pub struct LocalMember {
    pub roles: Vec<Role>,
    pub http_addr: String,
    pub grpc_addr: String,
    /// Ring tokens to own: 128 for ingesters, 0 otherwise.
    pub num_tokens: usize,
    /// `ingester.lifecycler.tokens_file_path`: keeps tokens across restarts.
    pub tokens_file: Option<PathBuf>,
    /// The ring state announced at join. Ingesters start JOINING and are moved to
    /// ACTIVE with `Cluster::set_state` once ready (after WAL replay); other roles
    /// start ACTIVE.
    pub initial_state: InstanceState,
    /// Its availability zone (zone-aware replication), empty for none.
    pub zone: String,
}

impl LocalMember {
    /// Defaults for `roles`: 128 tokens and JOINING for an ingester, none and ACTIVE
    /// otherwise.
    pub fn new(roles: Vec<Role>, http_addr: &str, grpc_addr: &str) -> LocalMember {
        let ingester = roles.contains(&Role::Ingester);
        LocalMember {
            roles,
            http_addr: http_addr.to_string(),
            grpc_addr: grpc_addr.to_string(),
            num_tokens: if ingester { DEFAULT_NUM_TOKENS } else { 0 },
            tokens_file: None,
            initial_state: if ingester { InstanceState::Joining } else { InstanceState::Active },
            zone: String::new(),
        }
    }
}

/// `hostname-pid`.
pub fn default_node_name() -> String {
    format!("{}-{}", hostname(), std::process::id())
}

fn hostname() -> String {
    if let Ok(name) = std::env::var("HOSTNAME")
        && !name.trim().is_empty()
    {
        return name.trim().to_string();
    }
    for path in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(name) = std::fs::read_to_string(path)
            && !name.trim().is_empty()
        {
            return name.trim().to_string();
        }
    }
    "skald".to_string()
}

/// The advertise address: unspecified IP and port 0 filled in (see the field docs).
pub(crate) async fn resolve_advertise(advertise: SocketAddr, bound: SocketAddr) -> SocketAddr {
    let port = if advertise.port() == 0 { bound.port() } else { advertise.port() };
    if !advertise.ip().is_unspecified() {
        return SocketAddr::new(advertise.ip(), port);
    }
    if !bound.ip().is_unspecified() {
        return SocketAddr::new(bound.ip(), port);
    }
    // As in containers: the host name resolves to the address peers can reach.
    if let Ok(addresses) = tokio::net::lookup_host(format!("{}:{port}", hostname())).await {
        for address in addresses {
            if !address.ip().is_loopback() && address.is_ipv4() == bound.is_ipv4() {
                return address;
            }
        }
    }
    tracing::warn!("cannot find this host's address for gossip, advertising 127.0.0.1");
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

/// Checks `join_members` entries and gives each a port (the advertise port when none).
pub(crate) fn normalize_join_members(entries: &[String], default_port: u16) -> Result<Vec<String>, RingError> {
    let mut seeds = Vec::new();
    for entry in entries {
        let invalid = |reason| RingError::InvalidJoinMember { entry: entry.clone(), reason };
        let trimmed = entry.trim();
        let address = trimmed.strip_prefix("dns+").unwrap_or(trimmed);
        if address.starts_with("dnssrv+") || address.starts_with("dnssrvnoa+") {
            return Err(invalid("SRV lookups are not supported, use dns+host:port"));
        }
        if address.is_empty() {
            return Err(invalid("empty address"));
        }
        if address.parse::<SocketAddr>().is_ok() {
            seeds.push(address.to_string());
            continue;
        }
        if let Ok(ip) = address.parse::<IpAddr>() {
            seeds.push(SocketAddr::new(ip, default_port).to_string());
            continue;
        }
        match address.rsplit_once(':') {
            Some((host, port)) => {
                if host.is_empty() || host.contains(':') {
                    return Err(invalid("expected host:port"));
                }
                if port.parse::<u16>().is_err() {
                    return Err(invalid("port is not a number from 0 to 65535"));
                }
                seeds.push(address.to_string());
            }
            None => seeds.push(format!("{address}:{default_port}")),
        }
    }
    Ok(seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_members_get_ports_and_bad_entries_are_named() {
        let entries =
            vec!["10.0.0.1:7000".to_string(), "ingester-0.skald".to_string(), "dns+skald-gossip:7946".to_string(), "::1".to_string()];
        let seeds = normalize_join_members(&entries, 7946).unwrap();
        assert_eq!(seeds, ["10.0.0.1:7000", "ingester-0.skald:7946", "skald-gossip:7946", "[::1]:7946"]);
        let error = normalize_join_members(&["host:http".to_string()], 7946).unwrap_err();
        assert_eq!(error.to_string(), "invalid memberlist.join_members entry \"host:http\": port is not a number from 0 to 65535");
        assert!(normalize_join_members(&["dnssrv+_gossip._udp.x".to_string()], 1).is_err());
    }

    #[tokio::test]
    async fn advertise_fills_in_port_and_ip() {
        let bound: SocketAddr = "127.0.0.1:41000".parse().unwrap();
        let unspecified: SocketAddr = "0.0.0.0:0".parse().unwrap();
        assert_eq!(resolve_advertise(unspecified, bound).await, bound);
        let explicit: SocketAddr = "10.1.2.3:7946".parse().unwrap();
        assert_eq!(resolve_advertise(explicit, bound).await, explicit);
        // Nothing known: some address of this host (or loopback), with the bound port.
        let any: SocketAddr = "0.0.0.0:7946".parse().unwrap();
        assert_eq!(resolve_advertise(any, any).await.port(), 7946);
    }

    #[test]
    fn validation_names_the_key() {
        let mut config = ClusterConfig::for_local_test("a");
        config.heartbeat_timeout = config.heartbeat_period;
        let error = config.validate().unwrap_err();
        assert!(error.to_string().starts_with("invalid ingester.lifecycler.ring.heartbeat_timeout"));
        assert!(!default_node_name().is_empty());
    }
}
