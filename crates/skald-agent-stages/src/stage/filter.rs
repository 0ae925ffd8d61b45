//! Filtering stages: `match` (run nested stages, or drop, for entries selected by a
//! LogQL selector) and `drop` (drop entries meeting every configured condition).
//!
//! The `match` selector is parsed by the LogQL parser (`{app="x", env=~"prod|dev"} |=
//! "error"`): label matchers are tested against the entry's labels (a missing label is
//! the empty string, as in LogQL), and the optional pipeline after the selector (line
//! filters, or any LogQL stage) against the line; the entry matches when the pipeline
//! keeps it. Whatever the pipeline rewrites is discarded: `match` only selects.

use super::{Ctx, Item, Stage, Stages, build_list};
use crate::config::{Fields, duration, go_regex};
use serde_yaml_ng::Value;
use skald_common::LabelSet;
use skald_logql::{Expr, MatchOp, Matcher};

#[derive(Debug)]
enum LabelTest {
    Equal(String),
    NotEqual(String),
    Regex(regex::Regex),
    NotRegex(regex::Regex),
}

/// A stream selector with its optional LogQL pipeline.
#[derive(Debug)]
pub struct Selector {
    labels: Vec<(String, LabelTest)>,
    pipeline: Option<skald_logql::pipeline::Pipeline>,
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, String> {
        let expr = skald_logql::parse_expr(text).map_err(|e| format!("selector: invalid LogQL selector {text:?}: {e}"))?;
        let Expr::Log(log) = expr else {
            return Err(format!("selector: {text:?} is a metric query, not a stream selector"));
        };
        let mut labels = Vec::with_capacity(log.matchers.len());
        for Matcher { name, op, value } in log.matchers {
            let anchored = |v: &str| go_regex("selector", &format!("^(?:{v})$"));
            let test = match op {
                MatchOp::Eq => LabelTest::Equal(value),
                MatchOp::Neq => LabelTest::NotEqual(value),
                MatchOp::Re => LabelTest::Regex(anchored(&value)?),
                MatchOp::Nre => LabelTest::NotRegex(anchored(&value)?),
            };
            labels.push((name, test));
        }
        let pipeline = if log.pipeline.is_empty() {
            None
        } else {
            Some(skald_logql::pipeline::Pipeline::new(&log.pipeline).map_err(|e| format!("selector: {e}"))?)
        };
        Ok(Selector { labels, pipeline })
    }

    pub fn matches(&self, item: &Item) -> bool {
        for (name, test) in &self.labels {
            let value = item.entry.labels.get(name).map(String::as_str).unwrap_or("");
            let ok = match test {
                LabelTest::Equal(v) => value == v,
                LabelTest::NotEqual(v) => value != v,
                LabelTest::Regex(re) => re.is_match(value),
                LabelTest::NotRegex(re) => !re.is_match(value),
            };
            if !ok {
                return false;
            }
        }
        let Some(pipeline) = &self.pipeline else {
            return true;
        };
        if pipeline.line_filter_only() {
            return pipeline.matches_line(item.entry.line.as_bytes());
        }
        let labels = LabelSet::from_pairs(item.entry.labels.iter().map(|(n, v)| (n.clone(), v.clone())));
        let mut stream = pipeline.for_stream(&labels);
        stream.process(item.entry.timestamp_ns, &item.entry.line, &[]).is_some()
    }
}

/// `match`.
#[derive(Debug)]
pub struct Match {
    selector: Selector,
    /// `None` for `action: drop`.
    stages: Option<Stages>,
    drop_reason: String,
}

impl Match {
    pub fn new(config: &Value) -> Result<Match, String> {
        let fields = Fields::new(config, &["selector", "stages", "action", "drop_counter_reason", "pipeline_name"])?;
        let selector = Selector::parse(&fields.required_string("selector")?)?;
        let _pipeline_name = fields.string("pipeline_name")?;
        let drop_reason = fields.string("drop_counter_reason")?.filter(|s| !s.is_empty()).unwrap_or_else(|| "match_stage".into());
        let stages_value = fields.get("stages");
        let stages = match fields.string("action")?.as_deref() {
            None | Some("keep") => {
                let Some(value) = stages_value else {
                    return Err("match with action keep needs at least one stage under stages".into());
                };
                let stages = build_list(value).map_err(|e| format!("stages[{}] ({}): {}", e.index, e.stage, e.message))?;
                if stages.is_empty() {
                    return Err("match with action keep needs at least one stage under stages".into());
                }
                Some(stages)
            }
            Some("drop") => {
                if stages_value.is_some() {
                    return Err("match with action drop must not have stages".into());
                }
                None
            }
            Some(other) => return Err(format!("action: must be keep or drop, got {other:?}")),
        };
        Ok(Match { selector, stages, drop_reason })
    }
}

impl Stage for Match {
    fn process(&mut self, item: Item, ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        if !self.selector.matches(&item) {
            out.push(item);
            return;
        }
        match &mut self.stages {
            Some(stages) => stages.process(item, ctx, out),
            None => ctx.count_drop(&self.drop_reason),
        }
    }

    fn flush(&mut self, ctx: &mut Ctx<'_>, all: bool, out: &mut Vec<Item>) {
        if let Some(stages) = &mut self.stages {
            stages.flush(ctx, all, out);
        }
    }
}

/// `drop`.
#[derive(Debug)]
pub struct Drop {
    sources: Vec<String>,
    separator: String,
    value: Option<String>,
    expression: Option<regex::Regex>,
    older_than_ns: Option<i64>,
    longer_than: Option<usize>,
    reason: String,
}

impl Drop {
    pub fn new(config: &Value) -> Result<Drop, String> {
        let fields =
            Fields::new(config, &["source", "separator", "value", "expression", "older_than", "longer_than", "drop_counter_reason"])?;
        let sources = fields.string_list("source")?.unwrap_or_default();
        if sources.iter().any(String::is_empty) {
            return Err("source: names must not be empty".into());
        }
        let value = fields.string("value")?;
        let expression = match fields.string("expression")? {
            Some(e) => Some(go_regex("expression", &e)?),
            None => None,
        };
        let older_than_ns = match fields.string("older_than")? {
            Some(text) => Some(duration("older_than", &text)?),
            None => None,
        };
        let longer_than = match fields.string("longer_than")? {
            Some(text) => {
                let bytes = skald_logql::pipeline::parse_humanize_bytes(&text).map_err(|e| format!("longer_than: {e}"))?;
                Some(usize::try_from(bytes).unwrap_or(usize::MAX))
            }
            None => None,
        };
        if sources.is_empty() && expression.is_none() && older_than_ns.is_none() && longer_than.is_none() {
            return Err("needs at least one of source, expression, older_than or longer_than".into());
        }
        if value.is_some() && expression.is_some() {
            return Err("value and expression cannot both be set".into());
        }
        if value.is_some() && sources.is_empty() {
            return Err("value needs source (the extracted key to compare)".into());
        }
        Ok(Drop {
            sources,
            separator: fields.string("separator")?.unwrap_or_else(|| ";".into()),
            value,
            expression,
            older_than_ns,
            longer_than,
            reason: fields.string("drop_counter_reason")?.filter(|s| !s.is_empty()).unwrap_or_else(|| "drop_stage".into()),
        })
    }

    /// The joined values of every source, `None` when one is missing or null.
    fn source_text(&self, item: &Item) -> Option<String> {
        let mut parts = Vec::with_capacity(self.sources.len());
        for source in &self.sources {
            parts.push(item.value(source)?);
        }
        Some(parts.join(&self.separator))
    }

    /// Every configured condition must hold (Promtail's AND).
    fn should_drop(&self, item: &Item, now_ns: i64) -> bool {
        if let Some(max) = self.longer_than
            && item.entry.line.len() <= max
        {
            return false;
        }
        if let Some(age) = self.older_than_ns
            && item.entry.timestamp_ns >= now_ns.saturating_sub(age)
        {
            return false;
        }
        if !self.sources.is_empty() {
            let Some(text) = self.source_text(item) else {
                return false;
            };
            if let Some(value) = &self.value
                && *value != text
            {
                return false;
            }
            if let Some(re) = &self.expression
                && !re.is_match(&text)
            {
                return false;
            }
        } else if let Some(re) = &self.expression
            && !re.is_match(&item.entry.line)
        {
            return false;
        }
        true
    }
}

impl Stage for Drop {
    fn process(&mut self, item: Item, ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        if self.should_drop(&item, ctx.now_ns) {
            ctx.count_drop(&self.reason);
        } else {
            out.push(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{Drops, build};
    use super::*;

    fn run_counting(name: &str, config: &str, items: Vec<Item>, now_ns: i64) -> (Vec<Item>, Drops) {
        let mut stage = build(name, &yaml(config)).unwrap_or_else(|e| panic!("{config}: {e}"));
        let mut drops = Drops::new();
        let mut out = Vec::new();
        let mut ctx = Ctx { now_ns, drops: &mut drops };
        for item in items {
            stage.process(item, &mut ctx, &mut out);
        }
        (out, drops)
    }

    fn labelled(line: &str, labels: &[(&str, &str)]) -> Item {
        let mut e = entry(line);
        for (n, v) in labels {
            e.labels.insert(n.to_string(), v.to_string());
        }
        Item::new(e)
    }

    #[test]
    fn match_selectors() {
        // (selector, labels, line, matches)
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, bool);
        let cases: &[Case<'_>] = &[
            (r#"{app="loki"}"#, &[("app", "loki")], "x", true),
            (r#"{app="loki"}"#, &[("app", "promtail")], "x", false),
            (r#"{job="test", app!="loki"}"#, &[], "x", true),
            (r#"{app=~"lo.*"}"#, &[("app", "loki")], "x", true),
            (r#"{app=~"lo"}"#, &[("app", "loki")], "x", false),
            (r#"{app!~"lo.*", job="test"}"#, &[("app", "promtail")], "x", true),
            (r#"{app="loki"} |= "error""#, &[("app", "loki")], "an error here", true),
            (r#"{app="loki"} |= "error""#, &[("app", "loki")], "all fine", false),
            (r#"{app="loki"} != "debug" |~ "5\\d\\d""#, &[("app", "loki")], "status=503", true),
            (r#"{app="loki"} | logfmt | level="error""#, &[("app", "loki")], "level=error msg=x", true),
            (r#"{app="loki"} | logfmt | level="error""#, &[("app", "loki")], "level=info msg=x", false),
        ];
        for (selector, labels, line, want) in cases {
            let sel = Selector::parse(selector).unwrap_or_else(|e| panic!("{selector}: {e}"));
            assert_eq!(sel.matches(&labelled(line, labels)), *want, "{selector} on {line}");
        }
    }

    #[test]
    fn match_runs_nested_stages_or_drops() {
        let cfg = r#"{selector: '{app="loki"}', stages: [{regex: {expression: '(?P<level>\w+):'}}, {labels: {level: ''}}]}"#;
        let (out, _) = run_counting("match", cfg, vec![labelled("warn: x", &[("app", "loki")]), labelled("warn: y", &[])], 0);
        assert_eq!(out[0].entry.labels.get("level").map(String::as_str), Some("warn"));
        assert!(!out[1].entry.labels.contains_key("level"));

        let cfg = r#"{selector: '{app="loki"} |= "debug"', action: drop, drop_counter_reason: noisy}"#;
        let (out, drops) =
            run_counting("match", cfg, vec![labelled("debug x", &[("app", "loki")]), labelled("info x", &[("app", "loki")])], 0);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].entry.line, "info x");
        assert_eq!(drops.get("noisy"), Some(&1));
        let cfg = r#"{selector: '{app="loki"}', action: drop}"#;
        let (_, drops) = run_counting("match", cfg, vec![labelled("x", &[("app", "loki")])], 0);
        assert_eq!(drops.get("match_stage"), Some(&1));
    }

    #[test]
    fn drop_conditions() {
        let sec = 1_000_000_000;
        let with = |line: &str, extracted: &[(&str, &str)], ts: i64| {
            let mut item = Item::new(entry(line));
            item.entry.timestamp_ns = ts;
            for (k, v) in extracted {
                item.extracted.insert(k.to_string(), Some(v.to_string()));
            }
            item
        };
        let cases: &[(&str, Item, bool)] = &[
            ("{source: app}", with("l", &[("app", "x")], 0), true),
            ("{source: app}", with("l", &[], 0), false),
            ("{source: app, value: foo}", with("l", &[("app", "foo")], 0), true),
            ("{source: app, value: foo}", with("l", &[("app", "bar")], 0), false),
            ("{source: app, expression: '^f'}", with("l", &[("app", "foo")], 0), true),
            ("{source: app, expression: '^f'}", with("l", &[("app", "bar")], 0), false),
            ("{expression: '.*debug.*'}", with("a debug line", &[], 0), true),
            ("{expression: '.*debug.*'}", with("an info line", &[], 0), false),
            ("{older_than: 24h}", with("l", &[], 10 * sec), true),
            ("{older_than: 24h}", with("l", &[], 100_000 * sec), false),
            ("{longer_than: 8b}", with("123456789", &[], 0), true),
            ("{longer_than: 1KB}", with("short", &[], 0), false),
            ("{longer_than: 4, expression: x}", with("xxxxx", &[], 0), true),
            ("{longer_than: 4, expression: y}", with("xxxxx", &[], 0), false),
            ("{source: [a, b], value: '1;2'}", with("l", &[("a", "1"), ("b", "2")], 0), true),
            ("{source: [a, b], separator: '|', value: '1|2'}", with("l", &[("a", "1"), ("b", "2")], 0), true),
            ("{source: [a, b], value: '1;2'}", with("l", &[("a", "1")], 0), false),
        ];
        let now = 100_000 * sec;
        for (config, item, dropped) in cases {
            let (out, drops) = run_counting("drop", config, vec![item.clone()], now);
            assert_eq!(out.is_empty(), *dropped, "{config}");
            assert_eq!(drops.get("drop_stage").copied().unwrap_or(0), u64::from(*dropped), "{config}");
        }
        let (_, drops) = run_counting("drop", "{expression: x, drop_counter_reason: xs}", vec![with("x", &[], 0)], 0);
        assert_eq!(drops.get("xs"), Some(&1));
    }

    #[test]
    fn config_errors() {
        assert!(build_err("match", "{stages: [{labels: {a: ''}}]}").contains("selector is required"));
        assert!(build_err("match", "{selector: '{app=}', stages: [{labels: {a: ''}}]}").contains("selector"));
        assert!(build_err("match", r#"{selector: 'count_over_time({a="b"}[1m])', stages: [{labels: {a: ''}}]}"#).contains("metric"));
        assert!(build_err("match", r#"{selector: '{a="b"}'}"#).contains("at least one stage"));
        // as in Promtail (and Loki queries), a selector must not match everything
        assert!(build_err("match", r#"{selector: '{a!="b"}', action: drop}"#).contains("at least one regexp or equality matcher"));
        assert!(build_err("match", r#"{selector: '{a="b"}', action: drop, stages: [{labels: {a: ''}}]}"#).contains("must not have stages"));
        assert!(build_err("match", r#"{selector: '{a="b"}', action: maybe}"#).contains("action"));
        let nested = build_err("match", r#"{selector: '{a="b"}', stages: [{labels: {a: ''}}, {regex: {expresion: x}}]}"#);
        assert!(nested.contains("stages[1] (regex)") && nested.contains("\"expresion\""), "{nested}");
        assert!(build_err("drop", "{}").contains("at least one of"));
        assert!(build_err("drop", "{source: a, value: b, expression: c}").contains("cannot both"));
        assert!(build_err("drop", "{older_than: forever}").contains("older_than"));
        assert!(build_err("drop", "{longer_than: big}").contains("longer_than"));
        assert!(build_err("drop", "{expression: a, reason: b}").contains("\"reason\""));
    }
}
