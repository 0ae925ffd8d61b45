//! Prometheus relabeling (`relabel_configs`), as Promtail applies it to target and
//! message labels before they become stream labels.
//!
//! Semantics follow Prometheus' `relabel.Process`: `source_labels` values joined by
//! `separator` (`;`), the `regex` fully anchored (`^(?:re)$`), `replacement` expanded
//! with `$1`/`${1}`/`$name`. A rule list either keeps the label set (possibly changed)
//! or drops it (`keep` not matching, `drop` matching). Labels are a `BTreeMap`, so a
//! name appears once.

use serde::Deserialize;
use std::collections::BTreeMap;

pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    Labelmap,
    Labeldrop,
    Labelkeep,
    Lowercase,
    Uppercase,
    Keepequal,
    Dropequal,
    Hashmod,
}

/// One rule as written in YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    #[serde(default)]
    pub source_labels: Vec<String>,
    #[serde(default = "default_separator")]
    pub separator: String,
    #[serde(default = "default_regex")]
    pub regex: String,
    #[serde(default)]
    pub modulus: u64,
    #[serde(default)]
    pub target_label: String,
    #[serde(default = "default_replacement")]
    pub replacement: String,
    #[serde(default)]
    pub action: Action,
}

fn default_separator() -> String {
    ";".into()
}

fn default_regex() -> String {
    "(.*)".into()
}

fn default_replacement() -> String {
    "$1".into()
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    config: RelabelConfig,
    regex: regex::Regex,
}

#[derive(Debug, thiserror::Error)]
#[error("relabel_configs[{index}]: {message}")]
pub struct RelabelError {
    pub index: usize,
    pub message: String,
}

/// Compiles a rule list, checking what each action needs.
pub fn compile(configs: &[RelabelConfig]) -> Result<Vec<Rule>, RelabelError> {
    let mut rules = Vec::with_capacity(configs.len());
    for (index, config) in configs.iter().enumerate() {
        let fail = |message: String| RelabelError { index, message };
        let regex = regex::Regex::new(&format!("^(?:{})$", config.regex)).map_err(|e| fail(format!("regex: {e}")))?;
        let needs_target =
            matches!(config.action, Action::Replace | Action::Lowercase | Action::Uppercase | Action::Keepequal | Action::Dropequal);
        if needs_target && config.target_label.is_empty() {
            return Err(fail(format!("action {:?} needs target_label", config.action).to_lowercase()));
        }
        if config.action == Action::Hashmod {
            if config.target_label.is_empty() {
                return Err(fail("action hashmod needs target_label".into()));
            }
            if config.modulus == 0 {
                return Err(fail("action hashmod needs a positive modulus".into()));
            }
        }
        rules.push(Rule { config: config.clone(), regex });
    }
    Ok(rules)
}

/// Applies the rules in order; `None` when a rule dropped the label set.
pub fn process(mut labels: Labels, rules: &[Rule]) -> Option<Labels> {
    for rule in rules {
        if !apply(&mut labels, rule) {
            return None;
        }
    }
    Some(labels)
}

fn source_value(labels: &Labels, config: &RelabelConfig) -> String {
    let mut value = String::new();
    for (i, name) in config.source_labels.iter().enumerate() {
        if i > 0 {
            value.push_str(&config.separator);
        }
        if let Some(v) = labels.get(name) {
            value.push_str(v);
        }
    }
    value
}

/// One rule; false means drop.
fn apply(labels: &mut Labels, rule: &Rule) -> bool {
    let config = &rule.config;
    match config.action {
        Action::Keep => rule.regex.is_match(&source_value(labels, config)),
        Action::Drop => !rule.regex.is_match(&source_value(labels, config)),
        Action::Keepequal => {
            let value = source_value(labels, config);
            labels.get(&config.target_label).is_some_and(|t| *t == value)
        }
        Action::Dropequal => {
            let value = source_value(labels, config);
            labels.get(&config.target_label).is_none_or(|t| *t != value)
        }
        Action::Replace => {
            let value = source_value(labels, config);
            let Some(captures) = rule.regex.captures(&value) else { return true };
            let mut target = String::new();
            captures.expand(&config.target_label, &mut target);
            if !skald_common::is_valid_label_name(&target) {
                return true;
            }
            let mut replaced = String::new();
            captures.expand(&config.replacement, &mut replaced);
            if replaced.is_empty() {
                labels.remove(&target);
            } else {
                labels.insert(target, replaced);
            }
            true
        }
        Action::Lowercase => {
            let value = source_value(labels, config).to_lowercase();
            labels.insert(config.target_label.clone(), value);
            true
        }
        Action::Uppercase => {
            let value = source_value(labels, config).to_uppercase();
            labels.insert(config.target_label.clone(), value);
            true
        }
        Action::Labelmap => {
            let mut added = Vec::new();
            for (name, value) in labels.iter() {
                if rule.regex.is_match(name) {
                    let new_name = rule.regex.replace_all(name, config.replacement.as_str()).into_owned();
                    added.push((new_name, value.clone()));
                }
            }
            for (name, value) in added {
                labels.insert(name, value);
            }
            true
        }
        Action::Labeldrop => {
            labels.retain(|name, _| !rule.regex.is_match(name));
            true
        }
        Action::Labelkeep => {
            labels.retain(|name, _| rule.regex.is_match(name));
            true
        }
        Action::Hashmod => {
            let value = source_value(labels, config);
            labels.insert(config.target_label.clone(), (hash64(&value) % config.modulus).to_string());
            true
        }
    }
}

/// Prometheus' hashmod hash: the last 8 bytes of the value's MD5, big-endian.
fn hash64(value: &str) -> u64 {
    use md5::Digest;
    let digest = md5::Md5::digest(value.as_bytes());
    let mut last = [0u8; 8];
    last.copy_from_slice(&digest[8..16]);
    u64::from_be_bytes(last)
}

/// Removes the `__`-prefixed labels (meta and internal ones) before sending.
pub fn drop_internal(labels: &mut Labels) {
    labels.retain(|name, _| !name.starts_with("__"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> Vec<Rule> {
        let configs: Vec<RelabelConfig> = serde_yaml_ng::from_str(yaml).unwrap();
        compile(&configs).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn replace_with_groups_and_separator() {
        let rules = rules("- {source_labels: [a, b], regex: '(x+);(.*)', target_label: c, replacement: '${2}-$1'}");
        let out = process(labels(&[("a", "xx"), ("b", "yy")]), &rules).unwrap();
        assert_eq!(out["c"], "yy-xx");
        // Fully anchored: a partial match does nothing.
        let out = process(labels(&[("a", "axx"), ("b", "yy")]), &rules).unwrap();
        assert!(!out.contains_key("c"));
    }

    #[test]
    fn empty_replacement_deletes() {
        let rules = rules("- {source_labels: [a], regex: 'x', target_label: b, replacement: ''}");
        let out = process(labels(&[("a", "x"), ("b", "1")]), &rules).unwrap();
        assert!(!out.contains_key("b"));
    }

    #[test]
    fn keep_and_drop() {
        let keep = rules("- {source_labels: [app], regex: 'web|api', action: keep}");
        assert!(process(labels(&[("app", "web")]), &keep).is_some());
        assert!(process(labels(&[("app", "db")]), &keep).is_none());
        assert!(process(labels(&[]), &keep).is_none());
        let drop = rules("- {source_labels: [app], regex: 'db', action: drop}");
        assert!(process(labels(&[("app", "db")]), &drop).is_none());
        assert!(process(labels(&[("app", "web")]), &drop).is_some());
    }

    #[test]
    fn hashmod_matches_prometheus() {
        // Prometheus' relabel test: source "baz", modulus 1000 gives "976".
        let map = rules("- {source_labels: [c], modulus: 1000, target_label: d, action: hashmod}");
        let out = process(labels(&[("a", "foo"), ("c", "baz")]), &map).unwrap();
        assert_eq!(out["d"], "976");
        let missing =
            compile(&serde_yaml_ng::from_str::<Vec<RelabelConfig>>("- {source_labels: [a], target_label: s, action: hashmod}").unwrap());
        assert!(missing.unwrap_err().to_string().contains("modulus"));
    }

    #[test]
    fn labelmap_with_replacement() {
        let map = rules("- {regex: '__meta_kubernetes_pod_label_(.+)', replacement: 'k8s_${1}', action: labelmap}");
        let out = process(labels(&[("__meta_kubernetes_pod_label_app", "web"), ("x", "y")]), &map).unwrap();
        assert_eq!(out.get("k8s_app").map(String::as_str), Some("web"));
        assert_eq!(out.get("x").map(String::as_str), Some("y"));
    }

    #[test]
    fn labelmap_labeldrop_labelkeep() {
        let map = rules("- {regex: '__meta_kubernetes_pod_label_(.+)', action: labelmap}");
        let out = process(labels(&[("__meta_kubernetes_pod_label_team", "a")]), &map).unwrap();
        assert_eq!(out["team"], "a");
        let drop = rules("- {regex: 'tmp_.*', action: labeldrop}");
        let out = process(labels(&[("tmp_x", "1"), ("keep", "2")]), &drop).unwrap();
        assert_eq!(out, labels(&[("keep", "2")]));
        let keep = rules("- {regex: 'keep', action: labelkeep}");
        let out = process(labels(&[("tmp_x", "1"), ("keep", "2")]), &keep).unwrap();
        assert_eq!(out, labels(&[("keep", "2")]));
    }

    #[test]
    fn bad_regex_and_missing_target_are_errors() {
        let configs: Vec<RelabelConfig> = serde_yaml_ng::from_str("- {regex: '(', target_label: x}").unwrap();
        assert!(compile(&configs).unwrap_err().message.contains("regex"));
        let configs: Vec<RelabelConfig> = serde_yaml_ng::from_str("- {source_labels: [a]}").unwrap();
        assert!(compile(&configs).unwrap_err().message.contains("target_label"));
    }
}
