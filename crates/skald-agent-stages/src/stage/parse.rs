//! Parsing stages that fill the extracted map: `regex`, `json`, `logfmt`.
//!
//! Each reads the line, or the extracted value named by `source` (a missing or null
//! source makes the stage do nothing, as in Promtail). None of them changes the line.

use super::json_path::{JsonPath, to_extracted};
use super::{Ctx, Item, Stage};
use crate::config::{Fields, go_regex};
use serde_yaml_ng::Value;

/// Reads the optional `source` key, refusing an empty one.
fn source(fields: &Fields<'_>) -> Result<Option<String>, String> {
    match fields.string("source")? {
        Some(s) if s.is_empty() => Err("source must not be empty".into()),
        other => Ok(other),
    }
}

/// `regex`: named capture groups of `expression` become extracted values.
#[derive(Debug)]
pub struct Regex {
    expression: regex::Regex,
    source: Option<String>,
}

impl Regex {
    pub fn new(config: &Value) -> Result<Regex, String> {
        let fields = Fields::new(config, &["expression", "source"])?;
        let expression = go_regex("expression", &fields.required_string("expression")?)?;
        Ok(Regex { expression, source: source(&fields)? })
    }
}

impl Stage for Regex {
    fn process(&mut self, mut item: Item, _ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        if let Some(input) = item.input(self.source.as_deref())
            && let Some(captures) = self.expression.captures(&input)
        {
            for (index, name) in self.expression.capture_names().enumerate() {
                let Some(name) = name else { continue };
                // Go gives "" for a group that did not take part in the match.
                let value = captures.get(index).map(|m| m.as_str()).unwrap_or("");
                item.extracted.insert(name.to_string(), Some(value.to_string()));
            }
        }
        out.push(item);
    }
}

/// `json`: JMESPath expressions over a JSON object.
#[derive(Debug)]
pub struct Json {
    expressions: Vec<(String, JsonPath)>,
    source: Option<String>,
    drop_malformed: bool,
}

impl Json {
    pub fn new(config: &Value) -> Result<Json, String> {
        let fields = Fields::new(config, &["expressions", "source", "drop_malformed"])?;
        let map = fields.string_map("expressions")?.unwrap_or_default();
        if map.is_empty() {
            return Err("expressions is required (a map of extracted name to JMESPath expression)".into());
        }
        let mut expressions = Vec::with_capacity(map.len());
        for (name, expr) in map {
            let expr = match expr {
                Some(e) if !e.is_empty() => e,
                _ => name.clone(),
            };
            let path = JsonPath::parse(&expr).map_err(|e| format!("expressions.{name}: {e}"))?;
            expressions.push((name, path));
        }
        Ok(Json { expressions, source: source(&fields)?, drop_malformed: fields.bool("drop_malformed")?.unwrap_or(false) })
    }
}

impl Stage for Json {
    fn process(&mut self, mut item: Item, ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        let Some(input) = item.input(self.source.as_deref()) else {
            out.push(item);
            return;
        };
        let document: serde_json::Value = match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&input) {
            Ok(map) => serde_json::Value::Object(map),
            Err(_) => {
                if self.drop_malformed {
                    ctx.count_drop("malformed_json");
                } else {
                    out.push(item);
                }
                return;
            }
        };
        for (name, path) in &self.expressions {
            // A missing path extracts null, as JMESPath's search does in Promtail.
            let value = path.find(&document).and_then(to_extracted);
            item.extracted.insert(name.clone(), value);
        }
        out.push(item);
    }
}

/// `logfmt`: selected keys of a `key=value key2="quoted value"` line.
#[derive(Debug)]
pub struct Logfmt {
    /// (extracted name, logfmt key)
    mapping: Vec<(String, String)>,
    source: Option<String>,
}

impl Logfmt {
    pub fn new(config: &Value) -> Result<Logfmt, String> {
        let fields = Fields::new(config, &["mapping", "source"])?;
        let map = fields.string_map("mapping")?.unwrap_or_default();
        if map.is_empty() {
            return Err("mapping is required (a map of extracted name to logfmt key)".into());
        }
        let mapping = map
            .into_iter()
            .map(|(name, key)| {
                let key = key.filter(|k| !k.is_empty()).unwrap_or_else(|| name.clone());
                (name, key)
            })
            .collect();
        Ok(Logfmt { mapping, source: source(&fields)? })
    }
}

impl Stage for Logfmt {
    fn process(&mut self, mut item: Item, _ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        if let Some(input) = item.input(self.source.as_deref()) {
            for (key, value) in logfmt_pairs(&input) {
                for (name, wanted) in &self.mapping {
                    if *wanted == key {
                        item.extracted.insert(name.clone(), Some(value.clone()));
                    }
                }
            }
        }
        out.push(item);
    }
}

/// Splits a logfmt line into pairs (go-logfmt's rules: a key runs to `=`, space or
/// quote; a value is bare up to the next space, or a Go-quoted string; a key without
/// `=` has an empty value). Malformed parts are skipped, never panicked on.
pub fn logfmt_pairs(input: &str) -> Vec<(String, String)> {
    let bytes = input.as_bytes();
    let mut pairs = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        while pos < bytes.len() && bytes[pos] <= b' ' {
            pos += 1;
        }
        let key_start = pos;
        while pos < bytes.len() && bytes[pos] > b' ' && bytes[pos] != b'=' && bytes[pos] != b'"' {
            pos += 1;
        }
        let key = &input[key_start..pos];
        if key.is_empty() {
            // a stray `=` or quote: skip to the next space
            while pos < bytes.len() && bytes[pos] > b' ' {
                pos += 1;
            }
            continue;
        }
        if pos >= bytes.len() || bytes[pos] != b'=' {
            pairs.push((key.to_string(), String::new()));
            continue;
        }
        pos += 1; // '='
        if pos < bytes.len() && bytes[pos] == b'"' {
            let (value, next) = quoted_value(input, pos);
            pairs.push((key.to_string(), value));
            pos = next;
        } else {
            let value_start = pos;
            while pos < bytes.len() && bytes[pos] > b' ' {
                pos += 1;
            }
            pairs.push((key.to_string(), input[value_start..pos].to_string()));
        }
    }
    pairs
}

/// A Go-quoted value starting at the quote at `start`; returns it and the position after.
fn quoted_value(input: &str, start: usize) -> (String, usize) {
    let mut value = String::new();
    let mut chars = input[start + 1..].char_indices();
    while let Some((offset, c)) = chars.next() {
        match c {
            '"' => return (value, start + 1 + offset + 1),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 't')) => value.push('\t'),
                Some((_, 'r')) => value.push('\r'),
                Some((_, 'u')) => {
                    let hex: String = chars.by_ref().take(4).map(|(_, h)| h).collect();
                    if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        value.push(ch);
                    }
                }
                Some((_, other)) => value.push(other),
                None => break,
            },
            c => value.push(c),
        }
    }
    (value, input.len())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn extracted(out: &[Item], key: &str) -> Option<Option<String>> {
        out.first().and_then(|i| i.extracted.get(key).cloned())
    }

    #[test]
    fn regex_stage_docs_examples() {
        let line = "2019-01-01T01:00:00.000000001Z stderr P i'm a log message!";
        let cfg = r#"{expression: '^(?s)(?P<time>\S+?) (?P<stream>stdout|stderr) (?P<flags>\S+?) (?P<content>.*)$'}"#;
        let out = run_one("regex", cfg, Item::new(entry(line)));
        assert_eq!(extracted(&out, "time"), Some(Some("2019-01-01T01:00:00.000000001Z".into())));
        assert_eq!(extracted(&out, "stream"), Some(Some("stderr".into())));
        assert_eq!(extracted(&out, "content"), Some(Some("i'm a log message!".into())));
        assert_eq!(out[0].entry.line, line);

        // source: a previously extracted value
        let mut item = Item::new(entry("x"));
        item.extracted.insert("time".into(), Some("2019-01-01T01:00:00.000000001Z".into()));
        let out = run_one("regex", r#"{expression: '^(?P<year>\d+)', source: time}"#, item);
        assert_eq!(extracted(&out, "year"), Some(Some("2019".into())));
        // missing source: nothing happens
        let out = run_one("regex", r#"{expression: '^(?P<year>\d+)', source: nope}"#, Item::new(entry("2020")));
        assert_eq!(extracted(&out, "year"), None);
        // no match: nothing extracted, entry kept
        let out = run_one("regex", r#"{expression: '^(?P<n>\d+)$'}"#, Item::new(entry("abc")));
        assert_eq!(out.len(), 1);
        assert_eq!(extracted(&out, "n"), None);
        // unmatched optional group extracts ""
        let out = run_one("regex", r#"{expression: '^(?P<a>a)(?P<b>b)?'}"#, Item::new(entry("ac")));
        assert_eq!(extracted(&out, "b"), Some(Some(String::new())));
        // \d is ASCII only (RE2)
        let out = run_one("regex", r#"{expression: '^(?P<n>\d+)$'}"#, Item::new(entry("٣")));
        assert_eq!(extracted(&out, "n"), None);
    }

    #[test]
    fn json_stage_docs_examples() {
        let line = r#"{"log":"log message\n","stream":"stderr","time":"2019-04-30T02:12:41.8443515Z","extra":"{\"user\":\"marco\"}","obj":{"b":1,"a":[true,null]}}"#;
        let cfg = r#"{expressions: {output: log, stream: stream, timestamp: time, extra: "", obj: "", first: "obj.a[0]", none: missing}}"#;
        let out = run_one("json", cfg, Item::new(entry(line)));
        assert_eq!(extracted(&out, "output"), Some(Some("log message\n".into())));
        assert_eq!(extracted(&out, "timestamp"), Some(Some("2019-04-30T02:12:41.8443515Z".into())));
        assert_eq!(extracted(&out, "extra"), Some(Some(r#"{"user":"marco"}"#.into())));
        assert_eq!(extracted(&out, "obj"), Some(Some(r#"{"a":[true,null],"b":1}"#.into())));
        assert_eq!(extracted(&out, "first"), Some(Some("true".into())));
        assert_eq!(extracted(&out, "none"), Some(None));
        // nested parsing with source
        let out = run_one("json", r#"{expressions: {user: ""}, source: extra}"#, out[0].clone());
        assert_eq!(extracted(&out, "user"), Some(Some("marco".into())));
        // quoted keys
        let out = run_one("json", r#"{expressions: {v: '"a.b"'}}"#, Item::new(entry(r#"{"a.b":"dotted"}"#)));
        assert_eq!(extracted(&out, "v"), Some(Some("dotted".into())));
    }

    #[test]
    fn json_malformed_lines() {
        let out = run_one("json", "{expressions: {a: a}}", Item::new(entry("not json")));
        assert_eq!(out.len(), 1);
        assert_eq!(extracted(&out, "a"), None);
        let out = run_one("json", "{expressions: {a: a}, drop_malformed: true}", Item::new(entry("not json")));
        assert!(out.is_empty());
        let out = run_one("json", "{expressions: {a: a}, drop_malformed: true}", Item::new(entry("[1,2]")));
        assert!(out.is_empty());
    }

    #[test]
    fn logfmt_stage() {
        let line = r#"time=2012-11-01T22:08:41+00:00 app=loki level=WARN duration=125 message="this is a \"log\" line" flag"#;
        let cfg = "{mapping: {timestamp: time, app: '', msg: message, flag: ''}}";
        let out = run_one("logfmt", cfg, Item::new(entry(line)));
        assert_eq!(extracted(&out, "timestamp"), Some(Some("2012-11-01T22:08:41+00:00".into())));
        assert_eq!(extracted(&out, "app"), Some(Some("loki".into())));
        assert_eq!(extracted(&out, "msg"), Some(Some(r#"this is a "log" line"#.into())));
        assert_eq!(extracted(&out, "flag"), Some(Some(String::new())));
        assert_eq!(extracted(&out, "level"), None);
        assert_eq!(logfmt_pairs(r#"=x "y a=1 b="unterminated"#), vec![("a".into(), "1".into()), ("b".into(), "unterminated".into())]);
    }

    #[test]
    fn config_errors_name_the_key() {
        assert!(build_err("regex", "{}").contains("expression is required"));
        assert!(build_err("regex", "{expression: '('}").contains("expression"));
        assert!(build_err("regex", "{expression: a, sorce: x}").contains("\"sorce\""));
        assert!(build_err("regex", "{expression: a, source: ''}").contains("source"));
        assert!(build_err("json", "{}").contains("expressions is required"));
        assert!(build_err("json", "{expressions: {a: 'b[*]'}}").contains("expressions.a"));
        assert!(build_err("json", "{expressions: {a: b}, drop_malformed: maybe}").contains("drop_malformed"));
        assert!(build_err("logfmt", "{mapping: {}}").contains("mapping is required"));
        assert!(build_err("logfmt", "{mapping: {a: b}, extra: 1}").contains("\"extra\""));
    }
}
