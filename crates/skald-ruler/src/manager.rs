//! The ruler at work: every tenant's stored groups, each evaluated on its interval by its
//! own task, with the state the rules API shows (health, last error, evaluation times,
//! alerts). Rules are read again every `poll_interval`, and at once after a change through
//! the API. Evaluation follows Prometheus' rule manager: a group's rules run in order at
//! the same timestamp, slots aligned to the interval (offset by the group's hash, so
//! groups spread over the interval).

use crate::config::RulerConfig;
use crate::notifier::Notifier;
use crate::remote_write::RemoteWriter;
use crate::store::{RuleStore, StoreError};
use parking_lot::Mutex;
use skald_rules::alert::{AlertSet, AlertSpec, Labels, restore_active_since};
use skald_rules::template::{TemplateContext, expand};
use skald_rules::{Rule, RuleGroup};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How the ruler runs LogQL (the local querier, or a query frontend).
#[async_trait::async_trait]
pub trait RuleQuerier: Send + Sync {
    /// A metric query's samples at `ts` (ms); a scalar is one sample without labels.
    async fn instant(&self, tenant: &str, expr: &str, ts: i64) -> Result<Vec<(Labels, f64)>, String>;
    /// A metric query's series over `[start, end]` every `step` (ms): each series with
    /// the timestamps it has a sample at.
    async fn range(&self, tenant: &str, expr: &str, start: i64, end: i64, step: i64) -> Result<Vec<(Labels, Vec<i64>)>, String>;
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GroupKey {
    tenant: String,
    namespace: String,
    name: String,
}

struct Running {
    definition: RuleGroup,
    state: Arc<Mutex<GroupState>>,
    /// Whether this ruler evaluated the group's last slot (always, outside a cluster).
    owned: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// What the rules API shows of a group.
#[derive(Debug, Clone, Default)]
pub struct GroupState {
    pub rules: Vec<RuleState>,
    pub last_evaluation: Option<i64>,
    /// Seconds the last evaluation of every rule took.
    pub evaluation_time: f64,
}

#[derive(Debug, Clone)]
pub struct RuleState {
    pub rule: Rule,
    /// `unknown` until evaluated, then `ok` or `err`.
    pub health: &'static str,
    pub last_error: String,
    pub last_evaluation: Option<i64>,
    pub evaluation_time: f64,
    pub alerts: AlertSet,
    restored: bool,
}

impl RuleState {
    /// A rule not evaluated yet.
    pub fn new(rule: Rule) -> RuleState {
        RuleState {
            rule,
            health: "unknown",
            last_error: String::new(),
            last_evaluation: None,
            evaluation_time: 0.0,
            alerts: AlertSet::default(),
            restored: false,
        }
    }
}

impl GroupState {
    /// A group not evaluated yet.
    pub fn new(group: &RuleGroup) -> GroupState {
        GroupState { rules: group.rules.iter().cloned().map(RuleState::new).collect(), ..GroupState::default() }
    }
}

/// A group as the rules API lists it.
#[derive(Debug, Clone)]
pub struct GroupSnapshot {
    pub namespace: String,
    pub group: RuleGroup,
    pub interval_ms: i64,
    pub state: GroupState,
}

pub struct Ruler {
    config: RulerConfig,
    store: RuleStore,
    querier: Arc<dyn RuleQuerier>,
    notifier: Option<Arc<Notifier>>,
    /// Where rules' series go (`ruler.remote_write`), through the WAL.
    writer: Option<Arc<RemoteWriter>>,
    groups: Mutex<BTreeMap<GroupKey, Running>>,
    /// Serialises syncs (the poll loop and API changes).
    syncing: tokio::sync::Mutex<()>,
    /// Whether the data is complete enough to evaluate (the local ingester has replayed
    /// its WAL): until then evaluations are skipped, not run over partial data (which
    /// would resolve firing alerts and fire them again once the data is back).
    ready: Mutex<Option<ReadyCheck>>,
    /// On a cluster, which groups this ruler evaluates (the ruler ring); else all.
    ownership: Mutex<Option<Ownership>>,
}

/// A readiness condition of the data the ruler reads.
pub type ReadyCheck = Arc<dyn Fn() -> bool + Send + Sync>;

/// Whether this ruler evaluates a group `(tenant, namespace, group)` at the slot
/// `at_ms`. Every ruler must answer the same for the same slot (see `skald-ring`'s
/// ruler ring), so each group is evaluated once per slot.
pub type Ownership = Arc<dyn Fn(&str, &str, &str, i64) -> bool + Send + Sync>;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Ruler {
    /// A ruler; `wal_dir` holds what remote write has not delivered yet.
    pub fn new(
        config: RulerConfig,
        store: RuleStore,
        querier: Arc<dyn RuleQuerier>,
        wal_dir: &std::path::Path,
    ) -> Result<Arc<Ruler>, String> {
        let notifier = Notifier::new(&config)?;
        let writer = RemoteWriter::open(&config, wal_dir)?;
        Ok(Arc::new(Ruler {
            config,
            store,
            querier,
            notifier,
            writer,
            groups: Mutex::new(BTreeMap::new()),
            syncing: Default::default(),
            ready: Mutex::new(None),
            ownership: Mutex::new(None),
        }))
    }

    /// Evaluations wait until `check` is true (the local ingester replayed its WAL).
    pub fn set_ready_check(&self, check: ReadyCheck) {
        *self.ready.lock() = Some(check);
    }

    /// Evaluates only the groups `owns` gives this ruler (call before `start`).
    pub fn set_ownership(&self, owns: Ownership) {
        *self.ownership.lock() = Some(owns);
    }

    fn owns(&self, key: &GroupKey, at_ms: i64) -> bool {
        let owns = self.ownership.lock().clone();
        owns.is_none_or(|owns| owns(&key.tenant, &key.namespace, &key.name, at_ms))
    }

    fn data_ready(&self) -> bool {
        self.ready.lock().as_ref().is_none_or(|check| check())
    }

    pub fn remote_writer(&self) -> Option<&Arc<RemoteWriter>> {
        self.writer.as_ref()
    }

    pub fn config(&self) -> &RulerConfig {
        &self.config
    }

    pub fn store(&self) -> &RuleStore {
        &self.store
    }

    pub fn notifier(&self) -> Option<&Arc<Notifier>> {
        self.notifier.as_ref()
    }

    /// Starts the notifier and the poll loop (reads the rules at once).
    pub fn start(self: &Arc<Self>) {
        if let Some(notifier) = &self.notifier {
            tokio::spawn(notifier.clone().run());
        }
        if let Some(writer) = &self.writer {
            writer.start();
        }
        let ruler = self.clone();
        tokio::spawn(async move {
            let poll = Duration::from_nanos(ruler.config.poll_interval.max(1_000_000_000) as u64);
            loop {
                if let Err(error) = ruler.sync(None).await {
                    tracing::warn!(%error, "reading rule groups failed");
                }
                tokio::time::sleep(poll).await;
            }
        });
    }

    /// Stops every evaluation (a ruler leaving the cluster stops before it says so, so
    /// that the ruler taking its groups over never evaluates a slot it also did).
    pub fn stop(&self) {
        *self.ownership.lock() = Some(Arc::new(|_: &str, _: &str, _: &str, _: i64| false));
        for running in self.groups.lock().values() {
            running.task.abort();
        }
    }

    /// Reads the stored groups (of one tenant, or of all) and starts, restarts or stops
    /// evaluation tasks to match.
    pub async fn sync(self: &Arc<Self>, only: Option<&str>) -> Result<(), StoreError> {
        let _one_at_a_time = self.syncing.lock().await;
        let tenants = match only {
            Some(t) => vec![t.to_string()],
            None => self.store.tenants().await?,
        };
        let mut wanted: BTreeMap<GroupKey, RuleGroup> = BTreeMap::new();
        for tenant in &tenants {
            match self.store.list(tenant, None).await {
                Ok(namespaces) => {
                    for (namespace, groups) in namespaces {
                        for group in groups {
                            let key = GroupKey { tenant: tenant.clone(), namespace: namespace.clone(), name: group.name.clone() };
                            wanted.insert(key, group);
                        }
                    }
                }
                Err(error) => tracing::warn!(%tenant, %error, "reading a tenant's rule groups failed"),
            }
        }
        let mut groups = self.groups.lock();
        groups.retain(|key, running| {
            let in_scope = only.is_none_or(|t| t == key.tenant) || !tenants.contains(&key.tenant);
            let keep = !in_scope || wanted.get(key) == Some(&running.definition);
            if !keep {
                running.task.abort();
            }
            keep
        });
        for (key, group) in wanted {
            if groups.contains_key(&key) {
                continue;
            }
            let state = Arc::new(Mutex::new(GroupState::new(&group)));
            let owned = Arc::new(AtomicBool::new(self.owns(&key, now_ms())));
            let task = tokio::spawn(self.clone().run_group(key.clone(), group.clone(), state.clone(), owned.clone()));
            groups.insert(key, Running { definition: group, state, owned, task });
        }
        Ok(())
    }

    /// A tenant's groups this ruler evaluates, with their state, by namespace then name.
    pub fn snapshot(&self, tenant: &str) -> Vec<GroupSnapshot> {
        let groups = self.groups.lock();
        groups
            .iter()
            .filter(|(key, running)| key.tenant == tenant && running.owned.load(Ordering::Relaxed))
            .map(|(key, running)| GroupSnapshot {
                namespace: key.namespace.clone(),
                group: running.definition.clone(),
                interval_ms: self.interval_ms(&running.definition),
                state: running.state.lock().clone(),
            })
            .collect()
    }

    fn interval_ms(&self, group: &RuleGroup) -> i64 {
        match group.interval {
            Some(d) if d.0 > 0 => d.0 as i64,
            _ => (self.config.evaluation_interval / 1_000_000).max(1),
        }
    }

    async fn run_group(self: Arc<Self>, key: GroupKey, group: RuleGroup, state: Arc<Mutex<GroupState>>, owned: Arc<AtomicBool>) {
        let interval = self.interval_ms(&group);
        let offset = (fnv(&format!("{}\u{0}{}\u{0}{}", key.tenant, key.namespace, key.name)) % interval as u64) as i64;
        loop {
            let now = now_ms();
            let next = now - (now - offset).rem_euclid(interval) + interval;
            tokio::time::sleep(Duration::from_millis((next - now).max(0) as u64)).await;
            if !self.owns(&key, next) {
                // Another ruler has it. Should it come back, its alerts are restored
                // from the logs, as after a restart.
                if owned.swap(false, Ordering::Relaxed) {
                    tracing::info!(tenant = %key.tenant, namespace = %key.namespace, group = %key.name, "rule group moved to another ruler");
                    *state.lock() = GroupState::new(&group);
                }
                continue;
            }
            if !owned.swap(true, Ordering::Relaxed) {
                tracing::info!(tenant = %key.tenant, namespace = %key.namespace, group = %key.name, "rule group taken over");
            }
            self.evaluate(&key, &group, interval, next, &state).await;
        }
    }

    /// One evaluation of a group's rules at `ts`.
    async fn evaluate(&self, key: &GroupKey, group: &RuleGroup, interval: i64, ts: i64, state: &Mutex<GroupState>) {
        if !self.data_ready() {
            tracing::debug!(tenant = %key.tenant, group = %key.name, "evaluation skipped: the data is not ready yet");
            return;
        }
        let started = Instant::now();
        let ctx = TemplateContext { external_labels: self.config.external_labels.clone(), external_url: self.config.external_url.clone() };
        let query_ts = ts - group.query_offset.map(|d| d.0 as i64).unwrap_or(0);
        let mut written: Vec<(Labels, f64)> = Vec::new();
        for index in 0..group.rules.len() {
            let rule_started = Instant::now();
            let rule = &group.rules[index];
            let result = self.querier.instant(&key.tenant, &rule.expr, query_ts).await;
            let (needs_restore, mut alerts) = {
                let s = state.lock();
                (!s.rules[index].restored, s.rules[index].alerts.clone())
            };
            let outcome = match result {
                Err(e) => Err(e),
                Ok(samples) if rule.is_alert() => {
                    let spec = AlertSpec {
                        name: rule.alert.clone(),
                        hold_ms: rule.for_.map(|d| d.0 as i64).unwrap_or(0),
                        keep_firing_for_ms: rule.keep_firing_for.map(|d| d.0 as i64).unwrap_or(0),
                        labels: rule.labels.clone(),
                        annotations: rule.annotations.clone(),
                    };
                    if needs_restore && spec.hold_ms > 0 {
                        alerts.restore(self.restore(&key.tenant, rule, &spec, interval, query_ts).await);
                    }
                    let expander = |text: &str, labels: &Labels, value: f64| expand(&rule.alert, text, labels, value, &ctx);
                    let evaluated = alerts.eval(&spec, ts, &samples, group.limit, &expander);
                    self.send(&key.tenant, rule, &mut alerts, ts, interval);
                    evaluated.map(|series| written.extend(series.into_iter().map(|s| (s.labels, s.value))))
                }
                Ok(samples) => record(rule, &samples, group.limit).map(|series| written.extend(series)),
            };
            let mut s = state.lock();
            let r = &mut s.rules[index];
            r.restored = true;
            r.alerts = alerts;
            r.last_evaluation = Some(ts);
            r.evaluation_time = rule_started.elapsed().as_secs_f64();
            match outcome {
                Ok(()) => {
                    r.health = "ok";
                    r.last_error.clear();
                }
                Err(e) => {
                    tracing::warn!(tenant = %key.tenant, group = %key.name, rule = %rule.name(), error = %e, "rule evaluation failed");
                    r.health = "err";
                    r.last_error = e;
                }
            }
        }
        if let Some(writer) = &self.writer
            && let Err(error) = writer.append(&key.tenant, ts, written).await
        {
            tracing::error!(tenant = %key.tenant, group = %key.name, %error, "writing rule results to the ruler WAL failed");
        }
        let mut s = state.lock();
        s.last_evaluation = Some(ts);
        s.evaluation_time = started.elapsed().as_secs_f64();
    }

    /// When each alert of `rule` became active, from its expression over the time before
    /// this ruler started (Loki's way: from the logs, so a restart neither resets `for`
    /// nor fires again what already fired).
    async fn restore(&self, tenant: &str, rule: &Rule, spec: &AlertSpec, interval: i64, ts: i64) -> BTreeMap<Labels, i64> {
        let window = spec.hold_ms.min(self.config.for_outage_tolerance / 1_000_000).max(interval);
        let steps_back = (window + interval - 1) / interval;
        let (start, end) = (ts - steps_back * interval, ts - interval);
        let series = match self.querier.range(tenant, &rule.expr, start, end, interval).await {
            Ok(series) => series,
            Err(error) => {
                tracing::warn!(%tenant, rule = %rule.name(), %error, "restoring alert state failed");
                return BTreeMap::new();
            }
        };
        let ctx = TemplateContext { external_labels: self.config.external_labels.clone(), external_url: self.config.external_url.clone() };
        let mut steps: Vec<(i64, Vec<Labels>)> = (0..steps_back).map(|k| (start + k * interval, Vec::new())).collect();
        for (labels, timestamps) in series {
            let mut alert_labels = labels.clone();
            alert_labels.remove("__name__");
            for (name, text) in &spec.labels {
                alert_labels.insert(name.clone(), expand(&spec.name, text, &labels, 0.0, &ctx));
            }
            alert_labels.insert("alertname".to_string(), spec.name.clone());
            for t in timestamps {
                if let Some(step) = steps.iter_mut().find(|(at, _)| *at == t) {
                    step.1.push(alert_labels.clone());
                }
            }
        }
        restore_active_since(&steps)
    }

    /// Sends what is due to Alertmanager.
    fn send(&self, tenant: &str, rule: &Rule, alerts: &mut AlertSet, ts: i64, interval: i64) {
        let Some(notifier) = &self.notifier else { return };
        let due = alerts.to_send(ts, self.config.resend_delay / 1_000_000, interval);
        if due.is_empty() {
            return;
        }
        let link = skald_rules::notify::explore_link(&self.config.external_url, &printed(&rule.expr), &self.config.datasource_uid);
        let payload = due.iter().map(|a| skald_rules::notify::postable_alert(a, &self.config.external_labels, &link)).collect();
        notifier.send(tenant, payload);
    }
}

/// The expression as Loki shows it (parsed and printed again).
pub fn printed(expr: &str) -> String {
    skald_logql::parse_expr(expr).map(|e| e.to_string()).unwrap_or_else(|_| expr.to_string())
}

/// A recording rule's series: the result renamed and relabelled (Prometheus' checks for
/// duplicates and the group's limit).
pub fn record(rule: &Rule, samples: &[(Labels, f64)], limit: usize) -> Result<Vec<(Labels, f64)>, String> {
    let mut out: BTreeMap<Labels, f64> = BTreeMap::new();
    for (labels, value) in samples {
        let mut labels = labels.clone();
        labels.insert("__name__".to_string(), rule.record.clone());
        for (name, value) in &rule.labels {
            if value.is_empty() {
                labels.remove(name);
            } else {
                labels.insert(name.clone(), value.clone());
            }
        }
        if out.insert(labels, *value).is_some() {
            return Err("vector contains metrics with the same labelset after applying rule labels".to_string());
        }
    }
    if limit > 0 && out.len() > limit {
        return Err(format!("exceeded limit {limit} with {} series", out.len()));
    }
    Ok(out.into_iter().collect())
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;
