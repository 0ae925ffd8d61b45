//! File targets: `static_configs` globs and the Kubernetes pod-log layout, each scrape
//! config polled by one thread.
//!
//! Discovery runs at start and every `target_config.sync_period`: it lists the files
//! the globs match now, starts a [`FileReader`] for each new one (from its saved
//! position, or from 0) and asks readers of files no longer there (or no longer
//! matched) to drain and let go. Between discoveries the thread polls every reader in
//! turn, a bounded number of bytes each, so one busy file cannot starve the others,
//! and sleeps when all are idle.
//!
//! Labels: a static target's labels (plus `__address__`) go through `relabel_configs`
//! once; a pod-log file's meta labels per file. Labels starting with `__` are then
//! removed and `filename` added.

use crate::config::{HARD_LINE_LIMIT, LimitsConfig, PodLogsConfig, StaticConfig};
use crate::glob::{Glob, GlobError};
use crate::metrics::{self, Metrics};
use crate::outlet::{Ack, Item, MAX_MESSAGE_BYTES, Outlet};
use crate::positions::Positions;
use crate::relabel::{self, Labels, Rule};
use crate::tailer::{FileCounters, FileReader, LineLimit, PollState};
use skald_agent_stages::Pipeline;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Sleep between polls when every file is idle.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Bytes read from one file before moving to the next.
const BUDGET_PER_FILE: usize = 1024 * 1024;

/// Where the files of a scrape config come from.
#[derive(Debug, Clone)]
pub enum Discovery {
    /// `static_configs`, relabeled: include glob, exclude glob, labels.
    Static(Vec<StaticTarget>),
    /// `kubernetes_pod_logs`.
    Pods { root: PathBuf, glob: Glob, labels: Labels },
}

#[derive(Debug, Clone)]
pub struct StaticTarget {
    pub include: Glob,
    pub exclude: Option<Glob>,
    /// Labels without the `__` ones.
    pub labels: Labels,
}

/// Applies relabeling to static targets and compiles their globs.
pub fn static_targets(configs: &[StaticConfig], rules: &[Rule]) -> Result<Vec<StaticTarget>, GlobError> {
    let mut out = Vec::new();
    for config in configs {
        let addresses = if config.targets.is_empty() { vec![String::new()] } else { config.targets.clone() };
        for address in addresses {
            let mut labels = config.labels.clone();
            if !address.is_empty() {
                labels.insert("__address__".into(), address);
            }
            let Some(mut labels) = relabel::process(labels, rules) else { continue };
            let Some(path) = labels.get("__path__").cloned() else { continue };
            let include = Glob::new(&path)?;
            let exclude = match labels.get("__path_exclude__") {
                Some(pattern) if !pattern.is_empty() => Some(Glob::new(pattern)?),
                _ => None,
            };
            relabel::drop_internal(&mut labels);
            out.push(StaticTarget { include, exclude, labels });
        }
    }
    Ok(out)
}

pub fn pod_discovery(config: &PodLogsConfig) -> Result<Discovery, GlobError> {
    let root = config.path.clone();
    let glob = Glob::new(&format!("{}/*/*/*.log", root.display()))?;
    Ok(Discovery::Pods { root, glob, labels: config.labels.clone() })
}

/// The meta labels of `<root>/<namespace>_<pod>_<uid>/<container>/<n>.log`.
pub fn pod_labels(root: &Path, file: &Path) -> Option<Labels> {
    let relative = file.strip_prefix(root).ok()?;
    let parts: Vec<&str> = relative.iter().filter_map(|p| p.to_str()).collect();
    let [pod_dir, container, _file] = parts.as_slice() else { return None };
    let mut split = pod_dir.splitn(3, '_');
    let (namespace, pod, uid) = (split.next()?, split.next()?, split.next()?);
    let mut labels = Labels::new();
    labels.insert("__meta_kubernetes_namespace".into(), namespace.into());
    labels.insert("__meta_kubernetes_pod_name".into(), pod.into());
    labels.insert("__meta_kubernetes_pod_uid".into(), uid.into());
    labels.insert("__meta_kubernetes_pod_container_name".into(), (*container).into());
    labels.insert("namespace".into(), namespace.into());
    labels.insert("pod".into(), pod.into());
    labels.insert("container".into(), (*container).into());
    labels.insert("__path__".into(), file.to_string_lossy().into_owned());
    Some(labels)
}

/// Everything one file-target thread needs.
pub struct FileJob {
    pub job_name: String,
    pub discovery: Discovery,
    pub relabel: Vec<Rule>,
    pub pipeline_stages: serde_yaml_ng::Value,
    pub sync_period: Duration,
    pub limits: LimitsConfig,
    pub positions: Arc<Positions>,
    pub metrics: Arc<Metrics>,
    pub outlet: Outlet,
    pub shutdown: Arc<AtomicBool>,
}

impl FileJob {
    /// The files wanted now, with their labels (first match wins).
    fn discover(&self) -> BTreeMap<PathBuf, Labels> {
        let mut found = BTreeMap::new();
        match &self.discovery {
            Discovery::Static(targets) => {
                for target in targets {
                    for path in target.include.walk() {
                        if target.exclude.as_ref().is_some_and(|g| g.matches(&path)) || found.contains_key(&path) {
                            continue;
                        }
                        let mut labels = target.labels.clone();
                        labels.insert("filename".into(), path.to_string_lossy().into_owned());
                        found.insert(path, labels);
                    }
                }
            }
            Discovery::Pods { root, glob, labels: extra } => {
                for path in glob.walk() {
                    let Some(mut labels) = pod_labels(root, &path) else { continue };
                    for (k, v) in extra {
                        labels.insert(k.clone(), v.clone());
                    }
                    let Some(mut labels) = relabel::process(labels, &self.relabel) else { continue };
                    relabel::drop_internal(&mut labels);
                    labels.insert("filename".into(), path.to_string_lossy().into_owned());
                    found.insert(path, labels);
                }
            }
        }
        found
    }

    fn line_limit(&self) -> LineLimit {
        let configured = self.limits.max_line_size as usize;
        if configured > 0 && configured < HARD_LINE_LIMIT {
            LineLimit { max_bytes: configured, truncate: self.limits.max_line_size_truncate }
        } else {
            LineLimit { max_bytes: HARD_LINE_LIMIT, truncate: true }
        }
    }

    fn counters(&self, path: &Path) -> FileCounters {
        let path = path.to_string_lossy();
        FileCounters {
            bytes: self.metrics.counter(metrics::READ_BYTES, &[("path", &path)]),
            lines: self.metrics.counter(metrics::READ_LINES, &[("path", &path)]),
            dropped_long: self.metrics.counter(metrics::DROPPED_LINES, &[("reason", "line_too_long")]),
        }
    }

    /// Runs until shutdown (or until the clients are gone).
    pub fn run(self) {
        let holds = pipeline_holds(&self.pipeline_stages);
        let limit = self.line_limit();
        let mut readers: HashMap<PathBuf, FileReader> = HashMap::new();
        let mut next_discovery = Instant::now();
        let mut out: Vec<Item> = Vec::new();
        // Files let go of in this run start from 0 when they come back.
        let mut released: HashSet<PathBuf> = HashSet::new();
        let mut active_reported = 0;
        loop {
            if self.shutdown.load(Ordering::Relaxed) {
                break;
            }
            if Instant::now() >= next_discovery {
                let wanted = self.discover();
                for (path, labels) in &wanted {
                    if readers.contains_key(path) {
                        continue;
                    }
                    let key = path.to_string_lossy();
                    let start = if released.remove(path) { 0 } else { self.positions.initial(&key).unwrap_or(0) };
                    let pipeline = match Pipeline::from_yaml(&self.pipeline_stages) {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::error!(job = %self.job_name, error = %e, "pipeline");
                            return;
                        }
                    };
                    match FileReader::open(path, start, labels.clone(), pipeline, holds, limit, self.counters(path)) {
                        Ok(reader) => {
                            tracing::info!(job = %self.job_name, path = %path.display(), offset = start, "tailing file");
                            // Keeps the saved position saved even if nothing new is read.
                            out.push(Item { entry: None, ack: Ack::Offset { key: Arc::from(key.as_ref()), offset: reader.offset() } });
                            readers.insert(path.clone(), reader);
                        }
                        Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot open file"),
                    }
                }
                for (path, reader) in readers.iter_mut() {
                    if !wanted.contains_key(path) {
                        reader.request_release();
                    }
                }
                next_discovery = Instant::now() + self.sync_period;
            }
            let now_ns = skald_common::unix_nanos_now();
            let mut busy = false;
            let mut finished = Vec::new();
            for (path, reader) in readers.iter_mut() {
                match reader.poll(BUDGET_PER_FILE, now_ns, &mut out) {
                    PollState::Busy => busy = true,
                    PollState::Idle => {}
                    PollState::Finished => finished.push(path.clone()),
                }
                for (reason, count) in reader.take_dropped() {
                    self.metrics.add(metrics::DROPPED_LINES, &[("reason", &reason)], count);
                }
                if message_bytes(&out) >= MAX_MESSAGE_BYTES && self.outlet.send_blocking(fresh(&mut out)).is_err() {
                    return;
                }
            }
            for path in finished {
                tracing::info!(job = %self.job_name, path = %path.display(), "stopped tailing file");
                readers.remove(&path);
                released.insert(path);
            }
            self.update_active(readers.len(), &mut active_reported);
            if self.outlet.send_blocking(fresh(&mut out)).is_err() {
                return;
            }
            if !busy {
                std::thread::sleep(POLL_INTERVAL);
            }
        }
        for reader in readers.values_mut() {
            reader.shutdown(&mut out);
        }
        self.update_active(0, &mut active_reported);
        let _ = self.outlet.send_blocking(out);
    }

    /// Moves the shared gauge by this job's change.
    fn update_active(&self, count: usize, reported: &mut usize) {
        let delta = count as i64 - *reported as i64;
        if delta != 0 {
            self.metrics.files_active.fetch_add(delta, Ordering::Relaxed);
            *reported = count;
        }
    }
}

/// Takes the items out, leaving a vector sized for the next message: growing one from
/// empty each time cost a series of large reallocations per message.
fn fresh(out: &mut Vec<Item>) -> Vec<Item> {
    let capacity = out.len().clamp(16, 4096);
    std::mem::replace(out, Vec::with_capacity(capacity))
}

fn message_bytes(items: &[Item]) -> usize {
    items.iter().map(|i| i.entry.as_ref().map_or(0, |e| e.line.len())).sum()
}

/// Stages that may hold entries back across lines.
const HOLDING_STAGES: [&str; 3] = ["multiline", "cri", "limit"];

/// Whether the stages may hold entries back (`multiline`, `cri` partial lines, a
/// queueing `limit`), looking inside nested `match` stages too.
pub fn pipeline_holds(stages: &serde_yaml_ng::Value) -> bool {
    match stages {
        serde_yaml_ng::Value::Sequence(list) => list.iter().any(pipeline_holds),
        serde_yaml_ng::Value::Mapping(map) => {
            map.iter().any(|(key, value)| key.as_str().is_some_and(|k| HOLDING_STAGES.contains(&k)) || pipeline_holds(value))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_layout_gives_labels() {
        let labels = pod_labels(Path::new("/var/log/pods"), Path::new("/var/log/pods/prod_web-7d9_1234-abcd/nginx/0.log")).unwrap();
        assert_eq!(labels["namespace"], "prod");
        assert_eq!(labels["pod"], "web-7d9");
        assert_eq!(labels["container"], "nginx");
        assert_eq!(labels["__meta_kubernetes_pod_uid"], "1234-abcd");
        assert!(pod_labels(Path::new("/var/log/pods"), Path::new("/var/log/pods/bad/nginx/0.log")).is_none());
    }

    #[test]
    fn static_targets_relabel_and_drop_internal_labels() {
        let configs: Vec<StaticConfig> =
            serde_yaml_ng::from_str("- {targets: [localhost], labels: {job: a, __path__: /x/*.log, __extra: y}}\n- {labels: {job: b}}")
                .unwrap();
        let targets = static_targets(&configs, &[]).unwrap();
        assert_eq!(targets.len(), 1, "a target without __path__ is dropped");
        assert_eq!(targets[0].labels, Labels::from([("job".to_string(), "a".to_string())]));
    }

    #[test]
    fn multiline_is_detected() {
        let stages: serde_yaml_ng::Value = serde_yaml_ng::from_str("- multiline: {firstline: x}\n- json: {}").unwrap();
        assert!(pipeline_holds(&stages));
        let stages: serde_yaml_ng::Value = serde_yaml_ng::from_str("- match: {selector: '{a=\"b\"}', stages: [{cri: {}}]}").unwrap();
        assert!(pipeline_holds(&stages));
        let stages: serde_yaml_ng::Value = serde_yaml_ng::from_str("- json: {expressions: {level: lvl}}\n- labels: {level: }").unwrap();
        assert!(!pipeline_holds(&stages));
    }
}
