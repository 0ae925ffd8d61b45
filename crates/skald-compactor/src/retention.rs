//! Retention rules (`limits_config.retention_period` and `retention_stream`), following
//! Loki: among the `retention_stream` rules whose selector matches a stream, the one
//! with the highest priority wins (on a tie, the longest period); a stream no rule
//! matches keeps `retention_period`; a period of 0 keeps data forever.
//!
//! A chunk expires when its newest entry is older than `now - period`, so a chunk is
//! never cut: it goes whole, once everything in it is past the period.

use crate::CompactorError;
use skald_common::{LabelSet, Limits};
use skald_index::LabelMatcher;

#[derive(Debug, Clone, Default)]
pub struct Retention {
    /// Global period in nanoseconds; 0 = forever.
    pub period: i64,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    matchers: Vec<LabelMatcher>,
    priority: i64,
    period: i64,
}

impl Retention {
    /// Compiles the rules of `limits`; a selector that does not parse is an error that
    /// names it.
    pub fn from_limits(limits: &Limits) -> Result<Retention, CompactorError> {
        let mut rules = Vec::with_capacity(limits.retention_stream.len());
        for stream in &limits.retention_stream {
            let matchers = compile_selector(&stream.selector).map_err(|message| {
                CompactorError::Config(format!("limits_config.retention_stream selector {}: {message}", stream.selector))
            })?;
            rules.push(Rule { matchers, priority: stream.priority, period: stream.period });
        }
        Ok(Retention { period: limits.retention_period, rules })
    }

    /// The period that applies to a stream (0 = keep forever).
    pub fn period_for(&self, labels: &LabelSet) -> i64 {
        let mut best: Option<&Rule> = None;
        for rule in &self.rules {
            if !rule.matchers.iter().all(|m| m.matches(labels)) {
                continue;
            }
            let better = match best {
                None => true,
                Some(current) => rule.priority > current.priority || (rule.priority == current.priority && rule.period > current.period),
            };
            if better {
                best = Some(rule);
            }
        }
        best.map_or(self.period, |rule| rule.period)
    }

    /// True when a chunk of this stream whose newest entry is at `through` has expired.
    pub fn expired(&self, labels: &LabelSet, through: i64, now: i64) -> bool {
        let period = self.period_for(labels);
        period > 0 && through < now.saturating_sub(period)
    }
}

/// Parses a stream selector (`{a="b", c=~"d.*"}`) into index matchers.
pub fn compile_selector(selector: &str) -> Result<Vec<LabelMatcher>, String> {
    let matchers = skald_logql::parse_matchers(selector).map_err(|e| e.to_string())?;
    compile_matchers(&matchers)
}

pub(crate) fn compile_matchers(matchers: &[skald_logql::Matcher]) -> Result<Vec<LabelMatcher>, String> {
    let mut out = Vec::with_capacity(matchers.len());
    for m in matchers {
        let compiled = match m.op {
            skald_logql::MatchOp::Eq => LabelMatcher::Eq(m.name.clone(), m.value.clone()),
            skald_logql::MatchOp::Neq => LabelMatcher::Neq(m.name.clone(), m.value.clone()),
            skald_logql::MatchOp::Re | skald_logql::MatchOp::Nre => {
                LabelMatcher::regex(&m.name, &skald_logql::pipeline::translate_go_regex(&m.value), m.op == skald_logql::MatchOp::Nre)
                    .map_err(|e| e.to_string())?
            }
        };
        out.push(compiled);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use skald_common::limits::RetentionStream;

    const HOUR: i64 = 3600 * 1_000_000_000;

    #[test]
    fn highest_priority_then_longest_period_wins() {
        let rule =
            |selector: &str, priority: i64, hours: i64| RetentionStream { selector: selector.into(), priority, period: hours * HOUR };
        let limits = Limits {
            retention_period: 168 * HOUR,
            retention_stream: vec![
                rule(r#"{namespace="prod"}"#, 2, 336),
                rule(r#"{container="loki"}"#, 1, 72),
                rule(r#"{container="loki"}"#, 1, 96),
            ],
            ..Limits::default()
        };
        let retention = Retention::from_limits(&limits).unwrap();
        let labels = |pairs: &[(&str, &str)]| LabelSet::from_pairs(pairs.iter().copied());
        assert_eq!(retention.period_for(&labels(&[("namespace", "prod"), ("container", "loki")])), 336 * HOUR);
        assert_eq!(retention.period_for(&labels(&[("container", "loki")])), 96 * HOUR);
        assert_eq!(retention.period_for(&labels(&[("container", "x")])), 168 * HOUR);
        assert!(retention.expired(&labels(&[("container", "x")]), 0, 169 * HOUR));
        assert!(!retention.expired(&labels(&[("container", "x")]), 2 * HOUR, 169 * HOUR));
        assert!(!Retention::default().expired(&labels(&[]), 0, i64::MAX));
    }

    #[test]
    fn bad_selector_is_named() {
        let limits =
            Limits { retention_stream: vec![RetentionStream { selector: "{app=".into(), priority: 1, period: HOUR }], ..Limits::default() };
        let error = Retention::from_limits(&limits).unwrap_err().to_string();
        assert!(error.contains("{app="), "{error}");
    }
}
