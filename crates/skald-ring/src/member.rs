//! What a node is in the cluster: its roles, its ring state and the [`Member`] record
//! everyone sees. Names are Loki's: roles are `-target` names (`query-frontend`), states
//! are dskit's ring states (`ACTIVE`), so the /ring page and logs read like Loki's.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A role a node runs (Loki's `-target` modules). A node may run several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Distributor,
    Ingester,
    Querier,
    QueryFrontend,
    QueryScheduler,
    Compactor,
    Ruler,
}

impl Role {
    /// Every role, in the order Loki lists its targets.
    pub const ALL: [Role; 7] =
        [Role::Distributor, Role::Ingester, Role::Querier, Role::QueryFrontend, Role::QueryScheduler, Role::Compactor, Role::Ruler];

    /// Loki's name for the role (`-target=query-frontend`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Distributor => "distributor",
            Role::Ingester => "ingester",
            Role::Querier => "querier",
            Role::QueryFrontend => "query-frontend",
            Role::QueryScheduler => "query-scheduler",
            Role::Compactor => "compactor",
            Role::Ruler => "ruler",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown role or state name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {name:?}")]
pub struct UnknownName {
    pub what: &'static str,
    pub name: String,
}

impl FromStr for Role {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Role, UnknownName> {
        for role in Role::ALL {
            if role.as_str() == name {
                return Ok(role);
            }
        }
        Err(UnknownName { what: "role", name: name.to_string() })
    }
}

/// An instance's ring state, as in dskit's lifecycler.
///
/// An ingester starts `JOINING`, becomes `ACTIVE` when it is ready to take writes, and
/// is `LEAVING` while it shuts down (it still serves reads then).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum InstanceState {
    Pending,
    Joining,
    Active,
    Leaving,
}

impl InstanceState {
    /// dskit's name (`ACTIVE`), as shown on /ring.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Pending => "PENDING",
            InstanceState::Joining => "JOINING",
            InstanceState::Active => "ACTIVE",
            InstanceState::Leaving => "LEAVING",
        }
    }
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InstanceState {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<InstanceState, UnknownName> {
        let states = [InstanceState::Pending, InstanceState::Joining, InstanceState::Active, InstanceState::Leaving];
        for state in states {
            if state.as_str() == name {
                return Ok(state);
            }
        }
        Err(UnknownName { what: "instance state", name: name.to_string() })
    }
}

/// One node as the cluster sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The node's unique name (`ClusterConfig::node_name`).
    pub id: String,
    pub roles: Vec<Role>,
    /// Where its HTTP API listens (`host:port`).
    pub http_addr: String,
    /// Where its gRPC API listens (`host:port`); the ring's "address".
    pub grpc_addr: String,
    pub state: InstanceState,
    /// Its ring tokens, sorted; empty for nodes that are neither ingesters nor rulers.
    pub tokens: Vec<u32>,
    /// Its last heartbeat, unix milliseconds (its own clock).
    pub heartbeat: i64,
    /// When it joined, unix milliseconds (its own clock); the same on every node's view.
    pub registered: i64,
    /// Its availability zone (`ingester.lifecycler.availability_zone`), empty if none.
    pub zone: String,
    /// Alive for the failure detector and heartbeat within `heartbeat_timeout`.
    pub healthy: bool,
}

impl Member {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Roles as gossiped: `distributor,ingester`.
pub(crate) fn encode_roles(roles: &[Role]) -> String {
    let names: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
    names.join(",")
}

/// Parses gossiped roles; unknown names (from a newer version) are skipped.
pub(crate) fn decode_roles(text: &str) -> Vec<Role> {
    let mut roles = Vec::new();
    for name in text.split(',') {
        if let Ok(role) = name.parse::<Role>() {
            roles.push(role);
        }
    }
    roles
}

/// Tokens as gossiped: decimal, comma separated (128 tokens are about 1.3 KB).
pub(crate) fn encode_tokens(tokens: &[u32]) -> String {
    let mut text = String::with_capacity(tokens.len() * 11);
    for (index, token) in tokens.iter().enumerate() {
        if index > 0 {
            text.push(',');
        }
        text.push_str(&token.to_string());
    }
    text
}

/// Parses gossiped tokens, sorted; entries that are not numbers are skipped.
pub(crate) fn decode_tokens(text: &str) -> Vec<u32> {
    let mut tokens = Vec::new();
    for part in text.split(',') {
        if let Ok(token) = part.parse::<u32>() {
            tokens.push(token);
        }
    }
    tokens.sort_unstable();
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_unknown_names_are_skipped() {
        let roles = vec![Role::QueryFrontend, Role::Ingester];
        assert_eq!(decode_roles(&encode_roles(&roles)), roles);
        assert_eq!(decode_roles("bloom-gateway,querier"), vec![Role::Querier]);
        assert!("bloom-gateway".parse::<Role>().is_err());
        assert_eq!("ruler".parse::<Role>(), Ok(Role::Ruler));
    }

    #[test]
    fn states_use_dskit_names() {
        assert_eq!(InstanceState::Leaving.to_string(), "LEAVING");
        assert_eq!("JOINING".parse(), Ok(InstanceState::Joining));
        assert!("active".parse::<InstanceState>().is_err());
    }

    #[test]
    fn tokens_round_trip_sorted() {
        assert_eq!(decode_tokens(&encode_tokens(&[5, 1, u32::MAX])), vec![1, 5, u32::MAX]);
        assert_eq!(decode_tokens("3,x,,2"), vec![2, 3]);
        assert!(decode_tokens("").is_empty());
    }
}
