//! Targets of file jobs: a relabeled label set with its `__path__` glob, and the set of
//! targets service discovery keeps up to date while the agent runs.

use crate::glob::{Glob, GlobError};
use crate::relabel::{self, Labels, Rule};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Targets that change while the agent runs (service discovery). Readers take a
/// snapshot; the generation tells the file thread to rediscover at once.
#[derive(Debug, Default)]
pub struct DynamicTargets {
    targets: parking_lot::RwLock<Arc<Vec<StaticTarget>>>,
    generation: AtomicU64,
}

impl DynamicTargets {
    pub fn snapshot(&self) -> Arc<Vec<StaticTarget>> {
        self.targets.read().clone()
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Replaces the targets; false (and nothing changes) when they are the same.
    pub fn replace(&self, targets: Vec<StaticTarget>) -> bool {
        let mut current = self.targets.write();
        if **current == targets {
            return false;
        }
        *current = Arc::new(targets);
        self.generation.fetch_add(1, Ordering::AcqRel);
        true
    }
}

/// A relabeled target as the file thread follows it: the globs and the labels.
pub(crate) fn target_from_labels(mut labels: Labels) -> Result<Option<StaticTarget>, GlobError> {
    let Some(path) = labels.get("__path__").cloned() else { return Ok(None) };
    let include = Glob::new(&path)?;
    let exclude = match labels.get("__path_exclude__") {
        Some(pattern) if !pattern.is_empty() => Some(Glob::new(pattern)?),
        _ => None,
    };
    relabel::drop_internal(&mut labels);
    Ok(Some(StaticTarget { include, exclude, labels }))
}

/// Relabels discovered label sets into targets, as Promtail does: a set dropped by the
/// rules, without `__path__`, or whose `__host__` names another host gives none;
/// identical targets count once.
pub fn relabeled_targets(sets: Vec<Labels>, rules: &[Rule], hostname: &str) -> Vec<StaticTarget> {
    let mut out: Vec<StaticTarget> = Vec::new();
    for labels in sets {
        let Some(labels) = relabel::process(labels, rules) else { continue };
        if labels.get("__host__").is_some_and(|host| host != hostname) {
            continue;
        }
        match target_from_labels(labels) {
            Ok(Some(target)) if !out.contains(&target) => out.push(target),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "ignoring a discovered target with an invalid __path__"),
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
pub struct StaticTarget {
    pub include: Glob,
    pub exclude: Option<Glob>,
    /// Labels without the `__` ones.
    pub labels: Labels,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn discovered_sets_become_targets_as_promtail_filters_them() {
        let configs: Vec<relabel::RelabelConfig> =
            serde_yaml_ng::from_str("- {source_labels: [__meta_node], target_label: __host__}").unwrap();
        let rules = relabel::compile(&configs).unwrap();
        let sets = vec![
            set(&[("__meta_node", "node-1"), ("__path__", "/logs/a/*.log"), ("app", "a")]),
            set(&[("__meta_node", "node-2"), ("__path__", "/logs/b/*.log"), ("app", "b")]),
            set(&[("__meta_node", "node-1"), ("app", "no-path")]),
            set(&[("__meta_node", "node-1"), ("__path__", "/logs/a/*.log"), ("app", "a")]),
        ];
        let targets = relabeled_targets(sets, &rules, "node-1");
        assert_eq!(targets.len(), 1, "other host, no path and duplicates give nothing: {targets:?}");
        assert_eq!(targets[0].labels, set(&[("app", "a")]));
        let dynamic = DynamicTargets::default();
        assert!(dynamic.replace(targets.clone()) && dynamic.generation() == 1);
        assert!(!dynamic.replace(targets), "the same targets change nothing");
        assert_eq!(dynamic.generation(), 1);
    }
}
