//! `-target`: which of Loki's roles a node runs. `all` runs every role in one process;
//! `write`, `read` and `backend` are Loki's simple-scalable groups; a comma-separated
//! list combines roles.

use std::collections::BTreeSet;
use std::fmt;

pub use skald_ring::Role;

/// The roles of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    set: BTreeSet<Role>,
    /// `all`: every role in one process, talking in-process (no ring needed).
    pub all: bool,
}

impl Roles {
    pub fn parse(target: &str) -> Result<Roles, String> {
        let mut set = BTreeSet::new();
        let mut all = false;
        for part in target.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let roles: &[Role] = match part {
                "all" => {
                    all = true;
                    &[Role::Distributor, Role::Ingester, Role::Querier, Role::QueryFrontend, Role::QueryScheduler, Role::Compactor]
                }
                "write" => &[Role::Distributor, Role::Ingester],
                "read" => &[Role::QueryFrontend, Role::Querier],
                "backend" => &[Role::QueryScheduler, Role::Compactor],
                "distributor" => &[Role::Distributor],
                "ingester" => &[Role::Ingester],
                "querier" => &[Role::Querier],
                "query-frontend" => &[Role::QueryFrontend],
                "query-scheduler" => &[Role::QueryScheduler],
                "compactor" => &[Role::Compactor],
                other => {
                    return Err(format!(
                        "unknown target '{other}': use all, write, read, backend, distributor, ingester, querier, query-frontend, query-scheduler or compactor"
                    ));
                }
            };
            set.extend(roles.iter().copied());
        }
        if set.is_empty() {
            return Err("target names no role".to_string());
        }
        Ok(Roles { set, all })
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
    }
}
