//! The state of an alerting rule's alerts, with Prometheus' semantics (`rules/alerting.go`):
//! a series the expression returns becomes a *pending* alert, *firing* once it has been
//! returned for `for`; an alert no longer returned is *inactive* (resolved) and kept for
//! 15 minutes so Alertmanager hears of the resolution, unless `keep_firing_for` keeps it
//! firing a while longer. Each evaluation also writes the `ALERTS` and `ALERTS_FOR_STATE`
//! series. Times are Unix milliseconds.

use std::collections::BTreeMap;

/// A label set, sorted by name (alerts are keyed by theirs).
pub type Labels = BTreeMap<String, String>;

/// How long a resolved alert is kept (and resent) after it resolved.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert: a series of the rule's expression, labelled and annotated.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    pub value: f64,
    pub state: AlertState,
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    /// When Alertmanager should consider the alert resolved if not resent.
    pub valid_until: Option<i64>,
    pub keep_firing_since: Option<i64>,
}

/// What an alerting rule says, as its state machine needs it.
#[derive(Debug, Clone, Default)]
pub struct AlertSpec {
    pub name: String,
    pub hold_ms: i64,
    pub keep_firing_for_ms: i64,
    pub labels: Labels,
    pub annotations: Labels,
}

/// Renders a label or annotation template for one series: `(text, the series' labels,
/// its value)`; a template that fails renders as Prometheus' `<error expanding template: ...>`.
pub type Expand<'a> = dyn Fn(&str, &Labels, f64) -> String + 'a;

/// A sample the rule writes (`ALERTS`, `ALERTS_FOR_STATE`, or a recording rule's series).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSample {
    pub labels: Labels,
    pub value: f64,
}

/// The alerts of one alerting rule, kept between evaluations.
#[derive(Debug, Default, Clone)]
pub struct AlertSet {
    pub active: BTreeMap<Labels, Alert>,
    /// When each alert restored after a restart became active (from the data, see
    /// `restore_active_since`); used once, by the first evaluation.
    restored: BTreeMap<Labels, i64>,
}

impl AlertSet {
    /// Hands the first evaluation the times restored alerts became active.
    pub fn restore(&mut self, since: BTreeMap<Labels, i64>) {
        self.restored = since;
    }

    /// One evaluation at `ts` of the rule's result (`(labels, value)` per series).
    /// Returns the `ALERTS` and `ALERTS_FOR_STATE` samples, or Prometheus' error (a
    /// duplicate label set, the group's `limit` exceeded: then every alert is dropped).
    pub fn eval(
        &mut self,
        spec: &AlertSpec,
        ts: i64,
        result: &[(Labels, f64)],
        limit: usize,
        expand: &Expand,
    ) -> Result<Vec<OutputSample>, String> {
        let mut current: BTreeMap<Labels, Alert> = BTreeMap::new();
        for (series, value) in result {
            let mut labels = series.clone();
            labels.remove("__name__");
            for (name, text) in &spec.labels {
                labels.insert(name.clone(), expand(text, series, *value));
            }
            labels.insert("alertname".to_string(), spec.name.clone());
            let annotations: Labels = spec.annotations.iter().map(|(name, text)| (name.clone(), expand(text, series, *value))).collect();
            if current.contains_key(&labels) {
                return Err("vector contains metrics with the same labelset after applying alert labels".to_string());
            }
            let active_at = self.restored.get(&labels).copied().unwrap_or(ts).min(ts);
            let alert = Alert {
                labels: labels.clone(),
                annotations,
                value: *value,
                state: AlertState::Pending,
                active_at,
                fired_at: None,
                resolved_at: None,
                last_sent_at: None,
                valid_until: None,
                keep_firing_since: None,
            };
            current.insert(labels, alert);
        }
        self.restored.clear();
        let returned: Vec<Labels> = current.keys().cloned().collect();
        for (labels, alert) in current {
            match self.active.get_mut(&labels) {
                Some(existing) if existing.state != AlertState::Inactive => {
                    existing.value = alert.value;
                    existing.annotations = alert.annotations;
                }
                _ => {
                    self.active.insert(labels, alert);
                }
            }
        }

        let mut out = Vec::new();
        let mut active_or_pending = 0;
        let mut forget = Vec::new();
        for (labels, alert) in self.active.iter_mut() {
            if returned.binary_search(labels).is_err() {
                let mut keep_firing = false;
                if alert.state == AlertState::Firing && spec.keep_firing_for_ms > 0 {
                    let since = *alert.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < spec.keep_firing_for_ms;
                }
                if alert.state == AlertState::Pending || alert.resolved_at.is_some_and(|r| ts - r > RESOLVED_RETENTION_MS) {
                    forget.push(labels.clone());
                }
                if alert.state != AlertState::Inactive && !keep_firing {
                    alert.state = AlertState::Inactive;
                    alert.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                alert.keep_firing_since = None;
            }
            active_or_pending += 1;
            if alert.state == AlertState::Pending && ts - alert.active_at >= spec.hold_ms {
                alert.state = AlertState::Firing;
                alert.fired_at = Some(ts);
            }
            let mut series = alert.labels.clone();
            series.insert("__name__".to_string(), "ALERTS".to_string());
            series.insert("alertstate".to_string(), alert.state.as_str().to_string());
            out.push(OutputSample { labels: series, value: 1.0 });
            let mut for_state = alert.labels.clone();
            for_state.insert("__name__".to_string(), "ALERTS_FOR_STATE".to_string());
            out.push(OutputSample { labels: for_state, value: (alert.active_at / 1000) as f64 });
        }
        for labels in forget {
            self.active.remove(&labels);
        }
        if limit > 0 && active_or_pending > limit {
            self.active.clear();
            return Err(format!("exceeded limit of {limit} with {active_or_pending} alerts"));
        }
        Ok(out)
    }

    /// The alerts to send to Alertmanager now (Prometheus' `needsSending`: not pending;
    /// resolved since last sent, or not sent for `resend_delay`), marked as sent; each
    /// valid for four times the larger of the interval and the resend delay.
    pub fn to_send(&mut self, ts: i64, resend_delay_ms: i64, interval_ms: i64) -> Vec<Alert> {
        let mut out = Vec::new();
        for alert in self.active.values_mut() {
            if alert.state == AlertState::Pending {
                continue;
            }
            let resolved_since_sent = match (alert.resolved_at, alert.last_sent_at) {
                (Some(resolved), Some(sent)) => resolved > sent,
                (Some(_), None) => true,
                _ => false,
            };
            let due = alert.last_sent_at.is_none_or(|sent| sent + resend_delay_ms < ts);
            if !resolved_since_sent && !due {
                continue;
            }
            alert.last_sent_at = Some(ts);
            alert.valid_until = Some(ts + 4 * resend_delay_ms.max(interval_ms));
            out.push(alert.clone());
        }
        out
    }
}

/// When each alert became continuously active, from the rule's expression evaluated at
/// the steps before a restart (`steps`: oldest first, the alert label sets returned at
/// each): an alert present at the last step is active since the first step of its
/// unbroken run to it. Loki restores `for` state this way (from the logs, not from
/// stored `ALERTS_FOR_STATE`), so a restart neither resets `for` nor re-fires.
pub fn restore_active_since(steps: &[(i64, Vec<Labels>)]) -> BTreeMap<Labels, i64> {
    let mut since = BTreeMap::new();
    let Some((_, last)) = steps.last() else { return since };
    for labels in last {
        let mut start = steps[steps.len() - 1].0;
        for (ts, present) in steps.iter().rev() {
            if !present.contains(labels) {
                break;
            }
            start = *ts;
        }
        since.insert(labels.clone(), start);
    }
    since
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn spec(hold_ms: i64, keep_firing_for_ms: i64) -> AlertSpec {
        AlertSpec {
            name: "HighErrors".into(),
            hold_ms,
            keep_firing_for_ms,
            labels: labels(&[("severity", "page")]),
            annotations: labels(&[("summary", "{{ $labels.app }}")]),
        }
    }

    fn no_templates(text: &str, series: &Labels, _value: f64) -> String {
        text.replace("{{ $labels.app }}", series.get("app").map(String::as_str).unwrap_or(""))
    }

    fn state_of(set: &AlertSet) -> Vec<(&'static str, Option<i64>)> {
        set.active.values().map(|a| (a.state.as_str(), a.resolved_at)).collect()
    }

    const MIN: i64 = 60_000;

    #[test]
    fn pending_then_firing_after_for_then_resolved_and_forgotten() {
        let spec = spec(2 * MIN, 0);
        let series = vec![(labels(&[("app", "checkout"), ("__name__", "x")]), 3.0)];
        let mut set = AlertSet::default();
        let out = set.eval(&spec, 0, &series, 0, &no_templates).unwrap();
        assert_eq!(state_of(&set), vec![("pending", None)]);
        let alert = set.active.values().next().unwrap();
        assert_eq!(alert.labels, labels(&[("alertname", "HighErrors"), ("app", "checkout"), ("severity", "page")]));
        assert_eq!(alert.annotations, labels(&[("summary", "checkout")]));
        assert_eq!(out[0].labels.get("alertstate").map(String::as_str), Some("pending"));
        assert_eq!(out[0].labels.get("__name__").map(String::as_str), Some("ALERTS"));
        assert_eq!(out[1].labels.get("__name__").map(String::as_str), Some("ALERTS_FOR_STATE"));
        assert_eq!(out[1].value, 0.0);
        assert!(set.to_send(0, MIN, MIN).is_empty(), "pending alerts are not sent");

        set.eval(&spec, MIN, &series, 0, &no_templates).unwrap();
        assert_eq!(state_of(&set), vec![("pending", None)]);
        let out = set.eval(&spec, 2 * MIN, &series, 0, &no_templates).unwrap();
        assert_eq!(state_of(&set), vec![("firing", None)]);
        assert_eq!(out[0].labels.get("alertstate").map(String::as_str), Some("firing"));
        let sent = set.to_send(2 * MIN, MIN, MIN);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].fired_at, Some(2 * MIN));
        assert_eq!(sent[0].valid_until, Some(6 * MIN));
        assert!(set.to_send(2 * MIN + 1, MIN, MIN).is_empty(), "not resent before the resend delay");
        assert_eq!(set.to_send(3 * MIN + 1, MIN, MIN).len(), 1, "resent after the resend delay");

        let out = set.eval(&spec, 4 * MIN, &[], 0, &no_templates).unwrap();
        assert!(out.is_empty());
        assert_eq!(state_of(&set), vec![("inactive", Some(4 * MIN))]);
        let resolved = set.to_send(4 * MIN, MIN, MIN);
        assert_eq!(resolved.len(), 1, "the resolution is sent at once");
        assert_eq!(resolved[0].resolved_at, Some(4 * MIN));
        set.eval(&spec, 4 * MIN + RESOLVED_RETENTION_MS, &[], 0, &no_templates).unwrap();
        assert_eq!(set.active.len(), 1, "kept for the retention");
        set.eval(&spec, 5 * MIN + RESOLVED_RETENTION_MS, &[], 0, &no_templates).unwrap();
        assert!(set.active.is_empty(), "forgotten after it");
    }

    #[test]
    fn a_pending_alert_that_stops_is_forgotten_and_starts_again_from_zero() {
        let spec = spec(2 * MIN, 0);
        let series = vec![(labels(&[("app", "a")]), 1.0)];
        let mut set = AlertSet::default();
        set.eval(&spec, 0, &series, 0, &no_templates).unwrap();
        set.eval(&spec, MIN, &[], 0, &no_templates).unwrap();
        assert!(set.active.is_empty());
        set.eval(&spec, 2 * MIN, &series, 0, &no_templates).unwrap();
        set.eval(&spec, 3 * MIN, &series, 0, &no_templates).unwrap();
        assert_eq!(state_of(&set), vec![("pending", None)], "for counts from the new start");
    }

    #[test]
    fn without_for_an_alert_fires_at_once() {
        let mut set = AlertSet::default();
        set.eval(&spec(0, 0), 0, &[(labels(&[("app", "a")]), 1.0)], 0, &no_templates).unwrap();
        assert_eq!(state_of(&set), vec![("firing", None)]);
    }

    #[test]
    fn keep_firing_for_holds_a_firing_alert() {
        let spec = spec(0, 2 * MIN);
        let series = vec![(labels(&[("app", "a")]), 1.0)];
        let mut set = AlertSet::default();
        set.eval(&spec, 0, &series, 0, &no_templates).unwrap();
        let out = set.eval(&spec, MIN, &[], 0, &no_templates).unwrap();
        assert_eq!(state_of(&set), vec![("firing", None)]);
        assert_eq!(out.len(), 2, "still written as firing");
        set.eval(&spec, 2 * MIN, &[], 0, &no_templates).unwrap();
        assert_eq!(state_of(&set), vec![("firing", None)]);
        set.eval(&spec, 3 * MIN, &[], 0, &no_templates).unwrap();
        assert_eq!(state_of(&set), vec![("inactive", Some(3 * MIN))]);
    }

    #[test]
    fn the_limit_and_duplicate_label_sets_are_errors() {
        let spec = spec(0, 0);
        let two = vec![(labels(&[("app", "a")]), 1.0), (labels(&[("app", "b")]), 1.0)];
        let mut set = AlertSet::default();
        assert_eq!(set.eval(&spec, 0, &two, 1, &no_templates).unwrap_err(), "exceeded limit of 1 with 2 alerts");
        assert!(set.active.is_empty());
        assert!(set.eval(&spec, 0, &two, 2, &no_templates).is_ok());
        // Two series that differ only by `__name__` are one alert.
        let dup = vec![(labels(&[("app", "a"), ("__name__", "x")]), 1.0), (labels(&[("app", "a"), ("__name__", "y")]), 1.0)];
        assert_eq!(
            AlertSet::default().eval(&spec, 0, &dup, 0, &no_templates).unwrap_err(),
            "vector contains metrics with the same labelset after applying alert labels"
        );
    }

    #[test]
    fn restored_activity_keeps_for_across_a_restart() {
        let a = labels(&[("alertname", "HighErrors"), ("app", "a"), ("severity", "page")]);
        let b = labels(&[("alertname", "HighErrors"), ("app", "b"), ("severity", "page")]);
        let steps = vec![
            (0, vec![a.clone()]),
            (MIN, vec![a.clone(), b.clone()]),
            (2 * MIN, vec![a.clone()]),
            (3 * MIN, vec![a.clone(), b.clone()]),
        ];
        let since = restore_active_since(&steps);
        assert_eq!(since.get(&a), Some(&0));
        assert_eq!(since.get(&b), Some(&(3 * MIN)), "b's run was broken at 2m");
        let mut set = AlertSet::default();
        set.restore(since);
        let series = vec![(labels(&[("app", "a")]), 1.0), (labels(&[("app", "b")]), 1.0)];
        set.eval(&spec(2 * MIN, 0), 4 * MIN, &series, 0, &no_templates).unwrap();
        assert_eq!(set.active[&a].state, AlertState::Firing, "active since 0: past its for");
        assert_eq!(set.active[&a].active_at, 0);
        assert_eq!(set.active[&b].state, AlertState::Pending);
    }
}
