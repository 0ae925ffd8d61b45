//! `limits_config.otlp_config`, with Loki's keys and meaning (`otlplabels/config.go`):
//! which OTLP attributes become index labels, which structured metadata, which are
//! dropped. Applied by `skald_push::otlp`.

use serde::{Deserialize, Serialize};

/// Loki's `distributor.otlp_config.default_resource_attributes_as_index_labels`: the
/// resource attributes every tenant indexes unless it sets `ignore_defaults`.
pub const DEFAULT_RESOURCE_ATTRIBUTES_AS_INDEX_LABELS: &[&str] = &[
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
];

/// `otlp_config`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct OtlpConfig {
    pub resource_attributes: ResourceAttributesConfig,
    pub scope_attributes: Vec<AttributesConfig>,
    pub log_attributes: Vec<AttributesConfig>,
    /// Also index each record's `severity_text` as the label `severity_text`.
    pub severity_text_as_label: bool,
}

/// `otlp_config.resource_attributes`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct ResourceAttributesConfig {
    /// Do not put the default index-label rule in front of `attributes_config`.
    pub ignore_defaults: bool,
    pub attributes_config: Vec<AttributesConfig>,
}

/// One rule: attributes named in `attributes`, or matching `regex` (whole name), get
/// `action`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttributesConfig {
    /// `index_label`, `structured_metadata` (the default when empty) or `drop`.
    pub action: String,
    pub attributes: Vec<String>,
    pub regex: Option<String>,
}

impl OtlpConfig {
    /// Refuses what Loki refuses: unknown actions, rules with both or neither of
    /// `attributes` and `regex`, bad regexes, and `index_label` for scope attributes.
    pub fn validate(&self) -> Result<(), String> {
        let check = |rules: &[AttributesConfig], at: &str| -> Result<(), String> {
            for (i, rule) in rules.iter().enumerate() {
                match rule.action.as_str() {
                    "" | "index_label" | "structured_metadata" | "drop" => {}
                    _ => {
                        return Err(format!(
                            "{at}[{i}].action: unsupported action, it must be one of: drop, index_label, structured_metadata"
                        ));
                    }
                }
                match (rule.attributes.is_empty(), &rule.regex) {
                    (true, None) => return Err(format!("{at}[{i}]: attributes or regex must be set")),
                    (false, Some(_)) => return Err(format!("{at}[{i}]: only one of attributes or regex must be set")),
                    _ => {}
                }
            }
            Ok(())
        };
        check(&self.resource_attributes.attributes_config, "otlp_config.resource_attributes.attributes_config")?;
        check(&self.scope_attributes, "otlp_config.scope_attributes")?;
        check(&self.log_attributes, "otlp_config.log_attributes")?;
        if self.scope_attributes.iter().any(|r| r.action == "index_label") {
            return Err("otlp_config.scope_attributes: index_label action is only supported for resource_attributes".into());
        }
        Ok(())
    }
}
