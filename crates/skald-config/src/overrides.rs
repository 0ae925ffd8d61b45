//! Per-tenant limits from Loki's runtime configuration file (`runtime_config.file`),
//! in Loki's layout:
//!
//! ```yaml
//! overrides:
//!   tenant-a:
//!     ingestion_rate_mb: 10          # any limits_config key
//!     max_entries_limit_per_query: 100
//! configs: {}                        # Loki's per-tenant operational settings
//! multi_kv_config: {}                # Loki's ring KV mirroring
//! ```
//!
//! A tenant's limits are `limits_config` with the tenant's keys over it. Keys are
//! checked as in the main file (a key of no Loki version is refused, naming the tenant
//! and key); `configs` and `multi_kv_config` are accepted and named as ignored.
//! [`TenantLimits`] holds the current set; the binary reloads the file every
//! `runtime_config.period` and keeps the last good set when a new one is broken.

use crate::check::{Location, check_tree, key_text};
use crate::load::{ConfigError, deserialize, parse_yaml};
use crate::schema::KeySchema;
use serde_yaml_ng::{Mapping, Value};
use skald_common::Limits;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// One reading of the runtime configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeOverrides {
    /// Tenant -> its limits (the defaults with its overrides applied).
    pub tenants: BTreeMap<String, Limits>,
    /// Keys read and not used by Skald (`overrides.t.some_loki_limit`, `configs`).
    pub ignored: Vec<String>,
}

/// Parses the runtime configuration files' texts (later files go over earlier ones, as
/// in Loki). `base` is the `limits_config` tree of the main configuration (after
/// flags): each tenant's keys go over it.
pub fn parse_runtime(texts: &[&str], base: &Value) -> Result<RuntimeOverrides, ConfigError> {
    let schema = KeySchema::get();
    let mut tree = Value::Mapping(Mapping::new());
    for text in texts {
        tree = merge(tree, parse_yaml(text).map_err(ConfigError::Yaml)?);
    }
    let Value::Mapping(top) = &tree else { unreachable!("parse_yaml gives a mapping") };
    let mut result = RuntimeOverrides::default();
    let mut errors = Vec::new();
    for (key, value) in top {
        let name = key_text(key).unwrap_or_default();
        match name.as_str() {
            "overrides" => {
                let Value::Mapping(tenants) = value else {
                    errors.push("overrides: must be a map of tenant to limits".to_string());
                    continue;
                };
                for (tenant, limits) in tenants {
                    let tenant = key_text(tenant).unwrap_or_default();
                    let at = Location { path: format!("overrides.{tenant}"), pattern: "limits_config".into() };
                    let before = errors.len();
                    check_tree(schema, &at, limits, &mut errors);
                    if errors.len() > before {
                        continue;
                    }
                    let merged = merge(base.clone(), limits.clone());
                    let (parsed, ignored) =
                        deserialize::<Limits>(&merged).map_err(|e| ConfigError::Invalid(format!("overrides.{tenant}: {e}")))?;
                    skald_compactor::Retention::from_limits(&parsed)
                        .map_err(|e| ConfigError::Invalid(format!("overrides.{tenant}: {e}")))?;
                    let own_keys = limits.as_mapping().map(|m| m.keys().filter_map(key_text).collect::<Vec<_>>()).unwrap_or_default();
                    result.ignored.extend(
                        ignored
                            .into_iter()
                            .filter(|path| own_keys.iter().any(|k| path == k))
                            .map(|path| format!("overrides.{tenant}.{path}")),
                    );
                    result.tenants.insert(tenant, parsed);
                }
            }
            "configs" => {
                if let Value::Mapping(tenants) = value {
                    for (tenant, config) in tenants {
                        let tenant = key_text(tenant).unwrap_or_default();
                        let at = Location { path: format!("configs.{tenant}"), pattern: "operational_config".into() };
                        check_tree(schema, &at, config, &mut errors);
                    }
                }
                result.ignored.push("configs".into());
            }
            "multi_kv_config" => result.ignored.push("multi_kv_config".into()),
            other => errors.push(format!("unknown key {other} of the runtime config (overrides, configs, multi_kv_config)")),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigError::Keys(errors));
    }
    result.ignored.sort();
    Ok(result)
}

/// `over` on top of `base`: maps merge key by key, anything else replaces.
pub fn merge(base: Value, over: Value) -> Value {
    match (base, over) {
        (Value::Mapping(mut base), Value::Mapping(over)) => {
            for (key, value) in over {
                let merged = match base.remove(&key) {
                    Some(old) => merge(old, value),
                    None => value,
                };
                base.insert(key, merged);
            }
            Value::Mapping(base)
        }
        (_, over) => over,
    }
}

/// Every tenant's limits: the defaults, and the overrides of the runtime config as last
/// loaded. Cheap to read on every request.
pub struct TenantLimits {
    defaults: Limits,
    current: RwLock<Arc<RuntimeOverrides>>,
}

impl TenantLimits {
    pub fn new(defaults: Limits) -> TenantLimits {
        TenantLimits { defaults, current: RwLock::new(Arc::new(RuntimeOverrides::default())) }
    }

    /// The limits of one tenant.
    pub fn limits(&self, tenant: &str) -> Limits {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current.tenants.get(tenant).cloned().unwrap_or_else(|| self.defaults.clone())
    }

    pub fn defaults(&self) -> &Limits {
        &self.defaults
    }

    /// The overrides now in force.
    pub fn current(&self) -> Arc<RuntimeOverrides> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts a new reading in force.
    pub fn replace(&self, overrides: RuntimeOverrides) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(overrides);
    }
}

/// The `limits_config` tree of a loaded configuration (empty when not set).
pub fn limits_tree(tree: &Value) -> Value {
    tree.get("limits_config").cloned().filter(Value::is_mapping).unwrap_or_else(|| Value::Mapping(Mapping::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        serde_yaml_ng::from_str("ingestion_rate_mb: 8\nmax_line_size: 100KB\n").unwrap()
    }

    #[test]
    fn a_tenants_keys_go_over_the_global_limits() {
        let runtime = parse_runtime(
            &["overrides:\n  team-a:\n    ingestion_rate_mb: 1\n    max_entries_limit_per_query: 50\n    max_query_lookback: 30d\n  \"42\":\n    max_query_series: 3\nconfigs:\n  team-a:\n    log_push_request: true\n"],
            &base(),
        )
        .unwrap();
        let a = &runtime.tenants["team-a"];
        assert_eq!(a.ingestion_rate_mb, 1.0);
        assert_eq!(a.max_entries_limit_per_query, 50);
        assert_eq!(a.max_line_size, 100 * 1024, "global limits_config under the override");
        assert_eq!(runtime.tenants["42"].max_query_series, 3);
        assert_eq!(runtime.tenants["42"].ingestion_rate_mb, 8.0);
        assert_eq!(runtime.ignored, vec!["configs", "overrides.team-a.max_query_lookback"]);
    }

    #[test]
    fn mistakes_name_tenant_and_key() {
        let error = parse_runtime(&["overrides:\n  team-a:\n    ingestion_rate_mbb: 1\n"], &base()).unwrap_err().to_string();
        assert_eq!(error, "unknown key overrides.team-a.ingestion_rate_mbb (did you mean limits_config.ingestion_rate_mb?)");
        let error = parse_runtime(&["overrides:\n  team-a:\n    ingestion_rate_mb: lots\n"], &base()).unwrap_err().to_string();
        assert!(error.contains("overrides.team-a") && error.contains("ingestion_rate_mb"), "{error}");
        assert!(parse_runtime(&["override: {}\n"], &base()).is_err());
        let error =
            parse_runtime(&["overrides:\n  t:\n    retention_stream:\n      - selector: '{a=~\"(\"}'\n        period: 1h\n"], &base())
                .unwrap_err()
                .to_string();
        assert!(error.contains("overrides.t") && error.contains("retention_stream"), "{error}");
        assert_eq!(parse_runtime(&[""], &base()).unwrap(), RuntimeOverrides::default());
        let later_wins =
            parse_runtime(&["overrides:\n  a:\n    max_query_series: 1\n", "overrides:\n  a:\n    max_query_series: 2\n"], &base())
                .unwrap();
        assert_eq!(later_wins.tenants["a"].max_query_series, 2);
    }

    #[test]
    fn tenant_limits_fall_back_to_the_defaults() {
        let limits = TenantLimits::new(Limits::default());
        limits.replace(parse_runtime(&["overrides:\n  a:\n    max_query_series: 7\n"], &Value::Mapping(Mapping::new())).unwrap());
        assert_eq!(limits.limits("a").max_query_series, 7);
        assert_eq!(limits.limits("b"), Limits::default());
    }
}
