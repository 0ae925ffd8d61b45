//! `-target`: which of Loki's roles a node runs. `all` runs every role in one process;
//! `write`, `read` and `backend` are Loki's simple-scalable groups; a comma-separated
//! list combines roles.

use std::collections::BTreeSet;
use std::fmt;

pub use skald_ring::Role;

/// The targets `-list-targets` prints: Skald's roles and groups.
pub const TARGETS: &[&str] =
    &["all", "read", "write", "backend", "distributor", "ingester", "querier", "query-frontend", "query-scheduler", "compactor", "ruler"];

/// Loki's targets that have no counterpart in Skald, and why a node can do without.
const LOKI_ONLY_TARGETS: &[(&str, &str)] = &[
    ("index-gateway", "queriers read the index from object storage themselves"),
    ("table-manager", "retention is the compactor's"),
    ("ingester-querier", "queriers ask the ingesters directly"),
    ("pattern-ingester", "patterns are computed at query time"),
    ("bloom-planner", "Skald's blocks carry their own filters"),
    ("bloom-builder", "Skald's blocks carry their own filters"),
    ("bloom-gateway", "Skald's blocks carry their own filters"),
    ("overrides-exporter", "overrides are shown at /runtime_config"),
    ("ui", "the web UI is in every node"),
    ("cache-generation-loader", "Skald has no results-cache generations"),
];

/// The roles of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    set: BTreeSet<Role>,
    /// `all`: every role in one process, talking in-process (no ring needed).
    pub all: bool,
    /// Loki targets named that Skald has no role for (with why), for the startup log.
    skipped: Vec<String>,
}

impl Roles {
    pub fn parse(target: &str) -> Result<Roles, String> {
        let mut set = BTreeSet::new();
        let mut all = false;
        let mut skipped = Vec::new();
        for part in target.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let roles: &[Role] = match part {
                "all" => {
                    all = true;
                    &[
                        Role::Distributor,
                        Role::Ingester,
                        Role::Querier,
                        Role::QueryFrontend,
                        Role::QueryScheduler,
                        Role::Compactor,
                        Role::Ruler,
                    ]
                }
                "write" => &[Role::Distributor, Role::Ingester],
                "read" => &[Role::QueryFrontend, Role::Querier],
                "backend" => &[Role::QueryScheduler, Role::Compactor, Role::Ruler],
                "distributor" => &[Role::Distributor],
                "ingester" => &[Role::Ingester],
                "querier" => &[Role::Querier],
                "query-frontend" => &[Role::QueryFrontend],
                "query-scheduler" => &[Role::QueryScheduler],
                "compactor" => &[Role::Compactor],
                "ruler" => &[Role::Ruler],
                other if LOKI_ONLY_TARGETS.iter().any(|(name, _)| *name == other) => {
                    let why = LOKI_ONLY_TARGETS.iter().find(|(name, _)| *name == other).map(|(_, why)| *why).unwrap_or_default();
                    skipped.push(format!("target {other}: Skald has no such role ({why})"));
                    &[]
                }
                other => {
                    return Err(format!(
                        "unknown target '{other}': use all, write, read, backend, distributor, ingester, querier, query-frontend, query-scheduler, compactor or ruler"
                    ));
                }
            };
            set.extend(roles.iter().copied());
        }
        if set.is_empty() {
            return Err(match skipped.first() {
                Some(first) => format!("{first}; name a role Skald runs"),
                None => "target names no role".to_string(),
            });
        }
        Ok(Roles { set, all, skipped })
    }

    /// Notes for the startup log: Loki targets named that Skald does without.
    pub fn notes(&self) -> impl Iterator<Item = &String> {
        self.skipped.iter()
    }

    pub fn has(&self, role: Role) -> bool {
        self.set.contains(&role)
    }

    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.set.iter().copied()
    }

    pub fn to_vec(&self) -> Vec<Role> {
        self.iter().collect()
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.all {
            return f.write_str("all");
        }
        let names: Vec<&str> = self.iter().map(Role::as_str).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_as_in_loki() {
        let write = Roles::parse("write").unwrap();
        assert!(write.has(Role::Distributor) && write.has(Role::Ingester) && !write.has(Role::Querier));
        let read = Roles::parse("read").unwrap();
        assert!(read.has(Role::QueryFrontend) && read.has(Role::Querier) && !read.has(Role::Ingester));
        let combined = Roles::parse("querier, compactor").unwrap();
        assert_eq!(combined.to_string(), "querier,compactor");
        let all = Roles::parse("all").unwrap();
        assert!(all.all && all.has(Role::Compactor));
        let error = Roles::parse("ingestor").unwrap_err();
        assert!(error.contains("ingestor"), "{error}");
        assert!(Roles::parse(" , ").is_err());
        let backend = Roles::parse("query-scheduler,compactor,index-gateway,ruler,table-manager").unwrap();
        assert_eq!(backend.to_string(), "query-scheduler,compactor,ruler");
        assert_eq!(backend.notes().count(), 2);
        assert_eq!(Roles::parse("backend").unwrap().to_string(), "query-scheduler,compactor,ruler");
        assert!(Roles::parse("index-gateway").unwrap_err().contains("index-gateway"));
    }
}
