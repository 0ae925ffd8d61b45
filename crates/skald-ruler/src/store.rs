//! Where rule groups are kept, as Loki keeps them:
//!
//! - object storage (the chunks' store): one object per group at
//!   `rules/<tenant>/<base64url(namespace)>/<base64url(group)>` holding Loki's protobuf
//!   `RuleGroupDesc`; read and written through the rules API;
//! - a local directory (`ruler.storage.type: local`): `<directory>/<tenant>/<namespace>`
//!   files in Prometheus' rule-file format, read-only, checked strictly when read.

use crate::proto::{RuleGroupDesc, from_proto, to_proto};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use prost::Message;
use skald_rules::RuleGroup;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("group does not exist")]
    GroupNotFound,
    #[error("group namespace does not exist")]
    NamespaceNotFound,
    /// The local store is read-only (Loki's words).
    #[error("{0} unsupported in rule local store")]
    Unsupported(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("rule storage: {0}")]
    Io(String),
}

impl From<object_store::Error> for StoreError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => StoreError::GroupNotFound,
            other => StoreError::Io(other.to_string()),
        }
    }
}

/// A tenant's groups by namespace, each namespace's groups in store order.
pub type Namespaces = BTreeMap<String, Vec<RuleGroup>>;

pub enum RuleStore {
    Bucket(Arc<dyn ObjectStore>),
    Local(std::path::PathBuf),
}

fn encode(name: &str) -> String {
    URL_SAFE.encode(name)
}

fn decode(part: &str) -> Option<String> {
    URL_SAFE.decode(part).ok().and_then(|b| String::from_utf8(b).ok()).filter(|s| !s.is_empty())
}

fn tenant_prefix(tenant: &str) -> Path {
    Path::from(format!("rules/{tenant}"))
}

impl RuleStore {
    /// The tenants that have rules.
    pub async fn tenants(&self) -> Result<Vec<String>, StoreError> {
        match self {
            RuleStore::Bucket(store) => {
                let listing = store.list_with_delimiter(Some(&Path::from("rules"))).await?;
                Ok(listing.common_prefixes.iter().filter_map(|p| p.filename().map(str::to_string)).collect())
            }
            RuleStore::Local(dir) => {
                let mut tenants = Vec::new();
                let Ok(entries) = std::fs::read_dir(dir) else { return Ok(tenants) };
                for entry in entries.flatten() {
                    if entry.path().is_dir() {
                        tenants.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
                tenants.sort();
                Ok(tenants)
            }
        }
    }

    /// A tenant's groups, of one namespace or of all.
    pub async fn list(&self, tenant: &str, namespace: Option<&str>) -> Result<Namespaces, StoreError> {
        match self {
            RuleStore::Bucket(store) => {
                let prefix = match namespace {
                    Some(ns) => Path::from(format!("rules/{tenant}/{}", encode(ns))),
                    None => tenant_prefix(tenant),
                };
                let mut objects: Vec<object_store::ObjectMeta> = store.list(Some(&prefix)).try_collect().await?;
                objects.sort_by(|a, b| a.location.cmp(&b.location));
                let mut out = Namespaces::new();
                for meta in objects {
                    let parts: Vec<&str> = meta.location.as_ref().split('/').collect();
                    let [_, _, ns, group] = parts.as_slice() else { continue };
                    let (Some(ns), Some(_)) = (decode(ns), decode(group)) else {
                        tracing::warn!(key = %meta.location, "skipping a rule group object with an invalid key");
                        continue;
                    };
                    let bytes = store.get(&meta.location).await?.bytes().await?;
                    let desc = RuleGroupDesc::decode(bytes.as_ref()).map_err(|e| StoreError::Invalid(format!("{}: {e}", meta.location)))?;
                    out.entry(ns).or_default().push(from_proto(&desc));
                }
                Ok(out)
            }
            RuleStore::Local(dir) => {
                let tenant_dir = dir.join(tenant);
                let mut out = Namespaces::new();
                let Ok(entries) = std::fs::read_dir(&tenant_dir) else { return Ok(out) };
                let mut files: Vec<std::path::PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| !p.is_dir()).collect();
                files.sort();
                for file in files {
                    let ns = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    if namespace.is_some_and(|wanted| wanted != ns) {
                        continue;
                    }
                    let text = std::fs::read_to_string(&file).map_err(|e| StoreError::Io(format!("{}: {e}", file.display())))?;
                    let groups = skald_rules::format::parse_rule_file(&text)
                        .map_err(|errors| StoreError::Invalid(format!("error parsing {}: {}", file.display(), errors.join(", "))))?;
                    out.insert(ns, groups.groups);
                }
                Ok(out)
            }
        }
    }

    pub async fn get(&self, tenant: &str, namespace: &str, group: &str) -> Result<RuleGroup, StoreError> {
        match self {
            RuleStore::Bucket(store) => {
                let bytes = store.get(&group_key(tenant, namespace, group)).await?.bytes().await?;
                let desc = RuleGroupDesc::decode(bytes.as_ref()).map_err(|e| StoreError::Invalid(e.to_string()))?;
                Ok(from_proto(&desc))
            }
            RuleStore::Local(_) => Err(StoreError::Unsupported("GetRuleGroup")),
        }
    }

    pub async fn set(&self, tenant: &str, namespace: &str, group: &RuleGroup) -> Result<(), StoreError> {
        match self {
            RuleStore::Bucket(store) => {
                let bytes = to_proto(tenant, namespace, group).encode_to_vec();
                store.put(&group_key(tenant, namespace, &group.name), bytes.into()).await?;
                Ok(())
            }
            RuleStore::Local(_) => Err(StoreError::Unsupported("SetRuleGroup")),
        }
    }

    pub async fn delete_group(&self, tenant: &str, namespace: &str, group: &str) -> Result<(), StoreError> {
        match self {
            RuleStore::Bucket(store) => {
                let key = group_key(tenant, namespace, group);
                store.head(&key).await?;
                store.delete(&key).await?;
                Ok(())
            }
            RuleStore::Local(_) => Err(StoreError::Unsupported("DeleteRuleGroup")),
        }
    }

    pub async fn delete_namespace(&self, tenant: &str, namespace: &str) -> Result<(), StoreError> {
        match self {
            RuleStore::Bucket(store) => {
                let prefix = Path::from(format!("rules/{tenant}/{}", encode(namespace)));
                let objects: Vec<object_store::ObjectMeta> = store.list(Some(&prefix)).try_collect().await?;
                if objects.is_empty() {
                    return Err(StoreError::NamespaceNotFound);
                }
                for meta in objects {
                    store.delete(&meta.location).await?;
                }
                Ok(())
            }
            RuleStore::Local(_) => Err(StoreError::Unsupported("DeleteNamespace")),
        }
    }
}

fn group_key(tenant: &str, namespace: &str, group: &str) -> Path {
    Path::from(format!("rules/{tenant}/{}/{}", encode(namespace), encode(group)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str) -> RuleGroup {
        skald_rules::format::from_yaml(&format!(
            "name: {name}\ninterval: 15s\nquery_offset: 2m\nlimit: 3\nrules:\n  - alert: A\n    expr: 'sum(count_over_time({{a=\"b\"}}[1m])) > 1'\n    for: 30s\n    keep_firing_for: 1m\n    labels: {{severity: page}}\n    annotations: {{summary: x}}\n  - record: r:x\n    expr: 'sum(count_over_time({{a=\"b\"}}[1m]))'\n"
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn groups_round_trip_through_loki_layout() {
        let dir = tempfile::tempdir().unwrap();
        let objects: Arc<dyn ObjectStore> = Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let store = RuleStore::Bucket(objects);
        store.set("t1", "ns/one", &group("g1")).await.unwrap();
        store.set("t1", "ns/one", &group("g2")).await.unwrap();
        store.set("t2", "other", &group("g1")).await.unwrap();
        // Loki's key: base64url (padded) of the namespace and the group.
        assert!(dir.path().join("rules/t1/bnMvb25l/ZzE=").exists());
        assert_eq!(store.tenants().await.unwrap(), vec!["t1", "t2"]);
        let listed = store.list("t1", None).await.unwrap();
        assert_eq!(listed["ns/one"], vec![group("g1"), group("g2")]);
        assert_eq!(store.get("t1", "ns/one", "g2").await.unwrap(), group("g2"));
        assert!(matches!(store.get("t1", "ns/one", "g3").await, Err(StoreError::GroupNotFound)));
        store.delete_group("t1", "ns/one", "g1").await.unwrap();
        assert!(matches!(store.delete_group("t1", "ns/one", "g1").await, Err(StoreError::GroupNotFound)));
        store.delete_namespace("t1", "ns/one").await.unwrap();
        assert!(matches!(store.delete_namespace("t1", "ns/one").await, Err(StoreError::NamespaceNotFound)));
        assert!(store.list("t1", None).await.unwrap().is_empty());
        assert_eq!(store.list("t2", None).await.unwrap()["other"], vec![group("g1")]);
    }

    #[tokio::test]
    async fn a_local_directory_is_read_strictly_and_not_written() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("fake")).unwrap();
        std::fs::write(
            dir.path().join("fake/rules.yaml"),
            "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: 'sum(count_over_time({a=\"b\"}[1m]))'\n",
        )
        .unwrap();
        let store = RuleStore::Local(dir.path().to_path_buf());
        assert_eq!(store.tenants().await.unwrap(), vec!["fake"]);
        assert_eq!(store.list("fake", None).await.unwrap()["rules.yaml"][0].name, "g");
        assert_eq!(store.set("fake", "x", &group("g")).await.unwrap_err().to_string(), "SetRuleGroup unsupported in rule local store");
        std::fs::write(dir.path().join("fake/bad.yaml"), "groups:\n  - name: g\n    bogus: 1\n").unwrap();
        let error = store.list("fake", None).await.unwrap_err().to_string();
        assert!(error.contains("bad.yaml") && error.contains("unknown field `bogus`"), "{error}");
    }
}
