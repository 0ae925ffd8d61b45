//! Rule files: Prometheus' rule-group format (`rulefmt`) with LogQL expressions, as
//! Loki reads them from its rules directory, object storage and the rules API.
//!
//! ```yaml
//! groups:
//!   - name: checkout
//!     interval: 1m
//!     limit: 10
//!     rules:
//!       - alert: HighErrorRate
//!         expr: sum(rate({app="checkout"} |= "error" [5m])) > 1
//!         for: 5m
//!         keep_firing_for: 2m
//!         labels: {severity: page}
//!         annotations: {summary: "{{ $labels.app }}: {{ $value }} errors/s"}
//!       - record: checkout:lines:rate1m
//!         expr: sum by (status) (rate({app="checkout"}[1m]))
//! ```

use crate::duration::{format_prom_duration, parse_prom_duration};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// A duration in milliseconds, written as Prometheus writes durations (`5m`, `1h30m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PromDuration(pub u64);

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_prom_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_prom_duration(&text).map(PromDuration).map_err(serde::de::Error::custom)
    }
}

/// A rule file (a namespace): its groups.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroups {
    pub groups: Vec<RuleGroup>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_offset: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: usize,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub record: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alert: String,
    #[serde(default)]
    pub expr: String,
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    /// The rule's name: its alert or its record.
    pub fn name(&self) -> &str {
        if self.alert.is_empty() { &self.record } else { &self.alert }
    }

    pub fn is_alert(&self) -> bool {
        !self.alert.is_empty()
    }
}

/// Reads YAML as Go's `yaml.v3` with known fields only: an unknown field, a value of the
/// wrong type and a malformed document are refused with the line they are on.
pub fn from_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_yaml_ng::from_str(text).map_err(|e| {
        let message = e.to_string();
        match e.location() {
            Some(at) if !message.contains("at line") => format!("yaml: line {}: {message}", at.line()),
            _ => format!("yaml: {message}"),
        }
    })
}

/// Parses a rule file and checks every group and rule, as Loki does when it loads one.
pub fn parse_rule_file(text: &str) -> Result<RuleGroups, Vec<String>> {
    let groups: RuleGroups = from_yaml(text).map_err(|e| vec![e])?;
    let errors = validate_groups(&groups.groups);
    if errors.is_empty() { Ok(groups) } else { Err(errors) }
}

/// Every problem of a namespace's groups (Loki's `ValidateGroups`): a group without a
/// name or with a name used twice, and each rule's first problem. Loki's messages; those
/// that do not name the rule are prefixed with its group, position and name.
pub fn validate_groups(groups: &[RuleGroup]) -> Vec<String> {
    let mut errors = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, group) in groups.iter().enumerate() {
        if group.name.is_empty() {
            errors.push(format!("group {i}: Groupname must not be empty"));
        }
        if !seen.insert(group.name.as_str()) {
            errors.push(format!("groupname: \"{}\" is repeated in the same file", group.name));
        }
        for (j, rule) in group.rules.iter().enumerate() {
            match validate_rule(rule, &group.name) {
                Ok(()) => {}
                Err(RuleProblem::Named(e)) => errors.push(e),
                Err(RuleProblem::Bare(e)) => errors.push(format!(
                    "group {}, rule {}, {}: {e}",
                    skald_common::go_quote(&group.name),
                    j + 1,
                    skald_common::go_quote(rule.name())
                )),
            }
        }
    }
    errors
}

enum RuleProblem {
    /// A message that names the group and the rule already.
    Named(String),
    Bare(String),
}

fn validate_rule(rule: &Rule, group: &str) -> Result<(), RuleProblem> {
    use RuleProblem::{Bare, Named};
    if !rule.record.is_empty() && !rule.alert.is_empty() {
        return Err(Bare("only one of 'record' and 'alert' must be set".to_string()));
    }
    if rule.record.is_empty() && rule.alert.is_empty() {
        return Err(Bare("one of 'record' or 'alert' must be set".to_string()));
    }
    if rule.expr.is_empty() {
        return Err(Bare("field 'expr' must be set in rule".to_string()));
    }
    let kind = if rule.is_alert() { "alert" } else { "record" };
    let context = format!("could not parse expression for {kind} '{}' in group '{group}'", rule.name());
    match skald_logql::parse_expr(&rule.expr) {
        Err(e) => return Err(Named(format!("{context}: {e}"))),
        // Loki accepts a log query here and fails every evaluation of it ("rule result
        // is not a vector or scalar"); refused at once instead.
        Ok(skald_logql::Expr::Log(_)) => return Err(Named(format!("{context}: {NOT_A_METRIC_QUERY}"))),
        Ok(_) => {}
    }
    if !rule.record.is_empty() {
        if !rule.annotations.is_empty() {
            return Err(Bare("invalid field 'annotations' in recording rule".to_string()));
        }
        if rule.for_.is_some_and(|d| d.0 != 0) {
            return Err(Bare("invalid field 'for' in recording rule".to_string()));
        }
        if rule.keep_firing_for.is_some_and(|d| d.0 != 0) {
            return Err(Bare("invalid field 'keep_firing_for' in recording rule".to_string()));
        }
        if !is_valid_metric_name(&rule.record) {
            return Err(Bare(format!("invalid recording rule name: {}", rule.record)));
        }
    }
    for name in rule.labels.keys() {
        if !skald_common::is_valid_label_name(name) || name == "__name__" {
            return Err(Bare(format!("invalid label name: {name}")));
        }
    }
    for name in rule.annotations.keys() {
        if !skald_common::is_valid_label_name(name) {
            return Err(Bare(format!("invalid annotation name: {name}")));
        }
    }
    if rule.is_alert() {
        for (what, map) in [("label", &rule.labels), ("annotation", &rule.annotations)] {
            for (name, text) in map {
                if let Err(e) = crate::template::parse(rule.name(), text) {
                    return Err(Bare(format!("{what} {}: {e}", skald_common::go_quote(name))));
                }
            }
        }
    }
    Ok(())
}

/// Why a log query is refused as a rule's expression.
pub const NOT_A_METRIC_QUERY: &str = "a rule's expression must be a metric query (a log query returns lines, not samples)";

/// Prometheus' metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A namespace's groups as YAML (the rules API's listing and the stored files).
pub fn to_yaml<T: Serialize>(value: &T) -> String {
    serde_yaml_ng::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
groups:
  - name: checkout
    interval: 1m
    limit: 10
    rules:
      - alert: HighErrorRate
        expr: sum(rate({app="checkout"} |= "error" [5m])) > 1
        for: 5m
        labels: {severity: page}
        annotations: {summary: "{{ $labels.app }}: {{ $value | humanize }} errors/s"}
      - record: checkout:lines:rate1m
        expr: sum by (status) (rate({app="checkout"}[1m]))
"#;

    fn errors(text: &str) -> Vec<String> {
        parse_rule_file(text).unwrap_err()
    }

    #[test]
    fn reads_a_rule_file() {
        let groups = parse_rule_file(GOOD).unwrap();
        let g = &groups.groups[0];
        assert_eq!(g.name, "checkout");
        assert_eq!(g.interval, Some(PromDuration(60_000)));
        assert_eq!(g.limit, 10);
        assert_eq!(g.rules[0].name(), "HighErrorRate");
        assert_eq!(g.rules[0].for_, Some(PromDuration(300_000)));
        assert_eq!(g.rules[1].name(), "checkout:lines:rate1m");
        // Written back and read again: the same groups.
        assert_eq!(parse_rule_file(&to_yaml(&groups)).unwrap(), groups);
        assert!(to_yaml(g).starts_with("name: checkout\ninterval: 1m\nlimit: 10\nrules:\n"), "{}", to_yaml(g));
    }

    #[test]
    fn refuses_what_loki_refuses_with_its_messages() {
        let e =
            errors("groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: sum(rate({a=\"b\"}[1m])) > 1\n        bogus: 1\n");
        assert!(e[0].contains("unknown field `bogus`") && e[0].contains("line 6"), "{e:?}");
        let e = errors("groups:\n  - name: a\n    rules: []\n  - name: a\n    rules: []\n");
        assert_eq!(e, vec!["groupname: \"a\" is repeated in the same file"]);
        let e = errors("groups:\n  - name: \"\"\n    rules: []\n");
        assert_eq!(e, vec!["group 0: Groupname must not be empty"]);
        let e = errors("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: '{app=\"x\"} |= \"error\"'\n");
        assert_eq!(e, vec![format!("could not parse expression for alert 'A' in group 'g': {NOT_A_METRIC_QUERY}")]);
        let e = errors("groups:\n  - name: g\n    rules:\n      - record: r\n        expr: 'sum(rate({app=\"x\"}[1m]'\n");
        assert!(e[0].starts_with("could not parse expression for record 'r' in group 'g': parse error"), "{e:?}");
        let e = errors(
            "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: 'count_over_time({a=\"b\"}[1m])'\n        for: 5m\n",
        );
        assert_eq!(e, vec!["group \"g\", rule 1, \"r\": invalid field 'for' in recording rule"]);
        let e = errors("groups:\n  - name: g\n    rules:\n      - record: 'bad-name'\n        expr: 'count_over_time({a=\"b\"}[1m])'\n");
        assert_eq!(e, vec!["group \"g\", rule 1, \"bad-name\": invalid recording rule name: bad-name"]);
        let e = errors("groups:\n  - name: g\n    rules:\n      - expr: 'count_over_time({a=\"b\"}[1m])'\n");
        assert_eq!(e, vec!["group \"g\", rule 1, \"\": one of 'record' or 'alert' must be set"]);
        let e = errors(
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: 'count_over_time({a=\"b\"}[1m])'\n        annotations: {s: '{{ nosuch }}'}\n",
        );
        assert!(e[0].starts_with("group \"g\", rule 1, \"A\": annotation \"s\": error parsing template __alert_A:"), "{e:?}");
        assert!(e[0].ends_with("function \"nosuch\" not defined"), "{e:?}");
        let e = errors("groups:\n  - name: g\n    interval: 5x\n    rules: []\n");
        assert!(e[0].contains("unknown unit \"x\" in duration \"5x\""), "{e:?}");
        assert!(from_yaml::<RuleGroups>("groups: [").unwrap_err().starts_with("yaml: "));
    }
}
