//! The manager's evaluation gate: nothing is evaluated before the data is ready.

use super::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Answers one series to every query and counts the queries.
struct CountingQuerier(AtomicUsize);

#[async_trait::async_trait]
impl RuleQuerier for CountingQuerier {
    async fn instant(&self, _: &str, _: &str, _: i64) -> Result<Vec<(Labels, f64)>, String> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(vec![(Labels::from([("app".to_string(), "a".to_string())]), 1.0)])
    }
    async fn range(&self, _: &str, _: &str, _: i64, _: i64, _: i64) -> Result<Vec<(Labels, Vec<i64>)>, String> {
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn nothing_is_evaluated_until_the_data_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let querier = Arc::new(CountingQuerier(AtomicUsize::new(0)));
    let store = RuleStore::Local(dir.path().to_path_buf());
    let ruler = Ruler::new(RulerConfig::default(), store, querier.clone(), &dir.path().join("wal")).unwrap();
    let ready = Arc::new(AtomicBool::new(false));
    let flag = ready.clone();
    ruler.set_ready_check(Arc::new(move || flag.load(Ordering::SeqCst)));
    let group: RuleGroup =
        skald_rules::format::from_yaml("name: g\nrules:\n  - alert: A\n    expr: 'sum(count_over_time({a=\"b\"}[1m])) > 0'\n").unwrap();
    let key = GroupKey { tenant: "t".into(), namespace: "ns".into(), name: "g".into() };
    let state = Mutex::new(GroupState { rules: vec![RuleState::new(group.rules[0].clone())], ..GroupState::default() });

    ruler.evaluate(&key, &group, 1000, 5_000, &state).await;
    assert_eq!(querier.0.load(Ordering::SeqCst), 0, "not queried while the data is incomplete");
    assert_eq!(state.lock().last_evaluation, None);
    assert!(state.lock().rules[0].alerts.active.is_empty());

    ready.store(true, Ordering::SeqCst);
    ruler.evaluate(&key, &group, 1000, 6_000, &state).await;
    assert_eq!(querier.0.load(Ordering::SeqCst), 1);
    assert_eq!(state.lock().last_evaluation, Some(6_000));
    assert_eq!(state.lock().rules[0].alerts.active.len(), 1);
}
