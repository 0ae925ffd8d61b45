//! File targets: `static_configs` globs and the Kubernetes pod-log layout, each scrape
//! config polled by one thread.
//!
//! Discovery runs at start, whenever the kernel reports a file created, renamed or
//! removed under a glob's directory (`watch.rs`), and every `target_config.sync_period`
//! as a fallback: it lists the files the globs match now, starts a [`FileReader`] for
//! each new one (from its saved position, or from 0) and asks readers of files no
//! longer there (or no longer matched) to drain and let go. Between discoveries the
//! thread polls every reader in turn, a bounded number of bytes each, so one busy file
//! cannot starve the others; when all are idle it waits for a notification, at most
//! `file_watch_config.min_poll_frequency` (doubling up to `max_poll_frequency` while
//! nothing changes).
//!
//! Labels: a static target's labels (plus `__address__`) go through `relabel_configs`
//! once; a pod-log file's meta labels per file. Labels starting with `__` are then
//! removed and `filename` added.

use crate::config::{FileWatchConfig, HARD_LINE_LIMIT, LimitsConfig, PodLogsConfig, StaticConfig};
use crate::file_id::FileId;
use crate::glob::{Glob, GlobError};
use crate::metrics::{self, Metrics};
use crate::outlet::{Item, MAX_MESSAGE_BYTES, Outlet};
use crate::positions::Positions;
use crate::relabel::{self, Labels, Rule};
use crate::tailer::{FileCounters, FileReader, LineLimit, PollState};
use crate::targets::target_from_labels;
pub use crate::targets::{DynamicTargets, StaticTarget, relabeled_targets};
use crate::watch::{Wake, Watch};
use skald_agent_stages::Pipeline;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Bytes read from one file before moving to the next.
const BUDGET_PER_FILE: usize = 1024 * 1024;

/// Where the files of a scrape config come from.
#[derive(Debug, Clone)]
pub enum Discovery {
    /// `static_configs`, relabeled: include glob, exclude glob, labels.
    Static(Vec<StaticTarget>),
    /// `kubernetes_pod_logs`.
    Pods { root: PathBuf, glob: Glob, labels: Labels },
    /// `kubernetes_sd_configs`: targets kept up to date by the pod watcher.
    Dynamic(Arc<DynamicTargets>),
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
            let Some(labels) = relabel::process(labels, rules) else { continue };
            out.extend(target_from_labels(labels)?);
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

/// How long a drained file is remembered: rename notifications come within moments.
const DRAINED_MEMORY: Duration = Duration::from_secs(5);

/// The file a path's reader read to its end before letting go (the path was missing for
/// an instant, as between a rename and a create). A rename of that file reported after
/// the reader let go must not have it read again from its start.
struct Drained {
    /// Held open: while it is, no other file can get its inode.
    file: std::fs::File,
    id: FileId,
    offset: u64,
    at: Instant,
}

impl Drained {
    /// `file` (its identity) is this file, not grown since it was drained.
    fn is(&self, id: &FileId) -> bool {
        id.inode() == self.id.inode() && self.file.metadata().is_ok_and(|m| m.len() <= self.offset)
    }
}

fn glob_roots(targets: &[StaticTarget]) -> Vec<(PathBuf, bool)> {
    targets
        .iter()
        .map(|t| {
            let (root, recursive) = t.include.watch_root();
            (root.to_path_buf(), recursive)
        })
        .collect()
}

/// The labels of the first target matching the path.
fn target_labels(targets: &[StaticTarget], path: &Path) -> Option<Labels> {
    let target = targets.iter().find(|t| t.include.matches(path) && !t.exclude.as_ref().is_some_and(|g| g.matches(path)))?;
    Some(target.labels.clone())
}

/// Everything one file-target thread needs.
pub struct FileJob {
    pub job_name: String,
    pub discovery: Discovery,
    pub relabel: Vec<Rule>,
    pub pipeline_stages: serde_yaml_ng::Value,
    pub sync_period: Duration,
    pub file_watch: FileWatchConfig,
    pub limits: LimitsConfig,
    pub positions: Arc<Positions>,
    pub metrics: Arc<Metrics>,
    pub outlet: Outlet,
    pub shutdown: Arc<AtomicBool>,
}

impl FileJob {
    /// The directories to watch: where each glob's walk starts.
    fn watch_roots(&self) -> Vec<(PathBuf, bool)> {
        match &self.discovery {
            Discovery::Static(targets) => glob_roots(targets),
            Discovery::Dynamic(set) => glob_roots(&set.snapshot()),
            Discovery::Pods { root, .. } => vec![(root.clone(), true)],
        }
    }

    /// The files wanted now, with their labels (first match wins).
    fn discover(&self) -> BTreeMap<PathBuf, Labels> {
        let mut found = BTreeMap::new();
        let walked: Vec<PathBuf> = match &self.discovery {
            Discovery::Static(targets) => targets.iter().flat_map(|t| t.include.walk()).collect(),
            Discovery::Dynamic(set) => set.snapshot().iter().flat_map(|t| t.include.walk()).collect(),
            Discovery::Pods { glob, .. } => glob.walk(),
        };
        for path in walked {
            if !found.contains_key(&path)
                && let Some(labels) = self.labels_for(&path)
            {
                found.insert(path, labels);
            }
        }
        found
    }

    /// The labels of a path the targets match (whether or not it exists), or none.
    fn labels_for(&self, path: &Path) -> Option<Labels> {
        let mut labels = match &self.discovery {
            Discovery::Static(targets) => target_labels(targets, path)?,
            Discovery::Dynamic(set) => target_labels(&set.snapshot(), path)?,
            Discovery::Pods { root, glob, labels: extra } => {
                if !glob.matches(path) {
                    return None;
                }
                let mut labels = pod_labels(root, path)?;
                for (k, v) in extra {
                    labels.insert(k.clone(), v.clone());
                }
                let mut labels = relabel::process(labels, &self.relabel)?;
                relabel::drop_internal(&mut labels);
                labels
            }
        };
        labels.insert("filename".into(), path.to_string_lossy().into_owned());
        Some(labels)
    }

    /// A file the targets match was renamed to `to` (reported by a notification): if no
    /// reader has it, it is queued for the path's reader - or for the next one - so
    /// that it is read from its start before the path's newer files.
    fn note_rename(
        &self,
        from: &Path,
        to: &Path,
        readers: &mut HashMap<PathBuf, FileReader>,
        renamed: &mut HashMap<PathBuf, Vec<(std::fs::File, FileId)>>,
        finished: &HashMap<PathBuf, Drained>,
    ) {
        if self.labels_for(from).is_none() || self.labels_for(to).is_some() {
            return; // not ours, or followed under its new name anyway
        }
        let Ok(file) = std::fs::File::open(to) else { return };
        let Ok(id) = FileId::of(&file) else { return };
        match readers.get_mut(from) {
            Some(reader) => reader.add_renamed(file, id),
            None => {
                // The path's reader may have drained this very file and let go of it
                // (the path was briefly missing while the file was renamed): then it
                // is read already, unless it grew since.
                if finished.get(from).is_some_and(|done| done.is(&id)) {
                    return;
                }
                renamed.entry(from.to_path_buf()).or_default().push((file, id));
            }
        }
    }

    /// A file was created or written next to followed files, under a name the targets do
    /// not match: it may be a rotated copy of one of them (`app.log` -> `app.log.1`).
    fn note_sibling(&self, path: &Path, readers: &mut HashMap<PathBuf, FileReader>) {
        if self.labels_for(path).is_some() {
            return;
        }
        let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else { return };
        for (followed, reader) in readers.iter_mut() {
            if followed.parent() == Some(dir)
                && followed.file_name().and_then(|n| n.to_str()).is_some_and(|f| name.starts_with(f) && name != f)
            {
                reader.sibling_written(path);
            }
        }
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
            size: self.metrics.counter(metrics::FILE_BYTES, &[("path", &path)]),
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
        let mut watch = Watch::new();
        let (min_wait, max_wait) = (self.file_watch.min_poll(), self.file_watch.max_poll());
        let mut idle_wait = min_wait;
        // Where each path's last reader stopped, for a few seconds: its file (kept open,
        // so that its inode cannot be reused meanwhile), identity and offset.
        let mut finished_files: HashMap<PathBuf, Drained> = HashMap::new();
        // Files renamed away from a path that had no reader yet, by path.
        let mut renamed: HashMap<PathBuf, Vec<(std::fs::File, FileId)>> = HashMap::new();
        // Files created or written next to followed ones, not yet looked at.
        let mut deferred_siblings: Vec<PathBuf> = Vec::new();
        let mut seen_generation = 0;
        loop {
            if self.shutdown.load(Ordering::Relaxed) {
                break;
            }
            if let Discovery::Dynamic(set) = &self.discovery
                && set.generation() != seen_generation
            {
                seen_generation = set.generation();
                next_discovery = Instant::now();
            }
            if Instant::now() >= next_discovery {
                watch.ensure(&self.watch_roots());
                let mut wanted = self.discover();
                // A path whose files were all renamed away still has them to read.
                for path in renamed.keys() {
                    if !wanted.contains_key(path)
                        && let Some(labels) = self.labels_for(path)
                    {
                        wanted.insert(path.clone(), labels);
                    }
                }
                for (path, labels) in &wanted {
                    if readers.contains_key(path) {
                        continue;
                    }
                    let key = path.to_string_lossy();
                    let saved = if released.remove(path) { None } else { self.positions.initial(&key) };
                    let pipeline = match Pipeline::from_yaml(&self.pipeline_stages) {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::error!(job = %self.job_name, error = %e, "pipeline");
                            return;
                        }
                    };
                    let mut earlier = renamed.remove(path).unwrap_or_default();
                    if let Some(done) = finished_files.remove(path) {
                        earlier.retain(|(_, id)| !done.is(id));
                    }
                    let mut earlier = earlier.into_iter();
                    let opened = match FileReader::open(path, saved, labels.clone(), pipeline, holds, limit, self.counters(path)) {
                        Ok(reader) => Ok(reader),
                        // The path is gone, but files renamed away from it are to be read.
                        Err(e) => match earlier.next() {
                            Some((file, id)) => {
                                let pipeline = Pipeline::from_yaml(&self.pipeline_stages).unwrap_or_default();
                                Ok(FileReader::reading(path, file, id, 0, labels.clone(), pipeline, holds, limit, self.counters(path)))
                            }
                            None => Err(e),
                        },
                    };
                    match opened {
                        Ok(mut reader) => {
                            for (file, id) in earlier {
                                reader.add_renamed(file, id);
                            }
                            reader.read_renamed_first();
                            tracing::info!(job = %self.job_name, path = %path.display(), offset = reader.offset(), "tailing file");
                            // Keeps the saved position saved even if nothing new is read.
                            out.push(Item { entry: None, ack: reader.position_ack() });
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
                for path in deferred_siblings.drain(..) {
                    self.note_sibling(&path, &mut readers);
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
                if let Some(reader) = readers.remove(&path) {
                    let (file, id, offset) = reader.into_file();
                    finished_files.insert(path.clone(), Drained { file, id, offset, at: Instant::now() });
                }
                released.insert(path);
            }
            finished_files.retain(|_, d| d.at.elapsed() < DRAINED_MEMORY);
            self.update_active(readers.len(), &mut active_reported);
            if self.outlet.send_blocking(fresh(&mut out)).is_err() {
                return;
            }
            // Busy: only take the notifications already there; idle: wait for one.
            let notified = watch.wait(if busy { Duration::ZERO } else { idle_wait });
            for (from, to) in &notified.renames {
                self.note_rename(from, to, &mut readers, &mut renamed, &finished_files);
            }
            // After the discovery a rescan brings, so that new readers see them too.
            deferred_siblings.extend(notified.written.iter().cloned());
            if notified.wake != Wake::Rescan {
                for path in deferred_siblings.drain(..) {
                    self.note_sibling(&path, &mut readers);
                }
            }
            match notified.wake {
                Wake::Rescan => {
                    next_discovery = Instant::now();
                    idle_wait = min_wait;
                }
                Wake::Written => idle_wait = min_wait,
                Wake::Timeout if busy => idle_wait = min_wait,
                Wake::Timeout => idle_wait = (idle_wait * 2).min(max_wait),
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
