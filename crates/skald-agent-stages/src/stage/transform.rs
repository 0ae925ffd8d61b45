//! Transform stages: `template` (a Go template over the extracted map), `replace`
//! (rewrite the capture groups of a regex with a template) and `decolorize` (strip ANSI
//! colour codes from the line).
//!
//! Promtail parses the `replace` template again for every line; here both templates are
//! compiled once, so a bad template is a configuration error instead of a silent no-op.

use super::go_template::GoTemplate;
use super::{Ctx, Item, Stage};
use crate::config::{Fields, go_regex};
use serde_yaml_ng::Value;
use std::collections::{BTreeMap, HashMap};

/// The template data: every extracted value that is a string (nulls are left out).
fn template_data(item: &Item) -> BTreeMap<String, String> {
    let mut data = BTreeMap::new();
    for (key, value) in &item.extracted {
        if let Some(value) = value {
            data.insert(key.clone(), value.clone());
        }
    }
    data
}

/// `template`: sets extracted `source` to the rendered template (`.Value` is the
/// current value of `source`, `.Entry` the line); an empty result deletes the key.
#[derive(Debug)]
pub struct Template {
    source: String,
    template: GoTemplate,
}

impl Template {
    pub fn new(config: &Value) -> Result<Template, String> {
        let fields = Fields::new(config, &["source", "template"])?;
        let source = fields.required_string("source")?;
        let text = fields.string("template")?.unwrap_or_default();
        let template = GoTemplate::new(&text).map_err(|e| format!("template: {e}"))?;
        Ok(Template { source, template })
    }
}

impl Stage for Template {
    fn process(&mut self, mut item: Item, _ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        let mut data = template_data(&item);
        if let Some(value) = item.value(&self.source) {
            data.insert("Value".into(), value.to_string());
        }
        data.insert("Entry".into(), item.entry.line.clone());
        // A template that fails to execute leaves everything as it was (Promtail).
        if let Ok(rendered) = self.template.render(&data) {
            if rendered.is_empty() {
                item.extracted.remove(&self.source);
            } else {
                item.extracted.insert(self.source.clone(), Some(rendered));
            }
        }
        out.push(item);
    }
}

/// `replace`: every capture group of every match of `expression` in the line (or in
/// extracted `source`) is replaced by the `replace` template rendered with `.Value` set
/// to the captured text; named groups also set extracted values to their replacement.
#[derive(Debug)]
pub struct Replace {
    expression: regex::Regex,
    source: Option<String>,
    template: GoTemplate,
}

impl Replace {
    pub fn new(config: &Value) -> Result<Replace, String> {
        let fields = Fields::new(config, &["expression", "source", "replace"])?;
        let expression = go_regex("expression", &fields.required_string("expression")?)?;
        let source = match fields.string("source")? {
            Some(s) if s.is_empty() => return Err("source must not be empty".into()),
            other => other,
        };
        let text = fields.string("replace")?.unwrap_or_default();
        let template = GoTemplate::new(&text).map_err(|e| format!("replace: {e}"))?;
        Ok(Replace { expression, source, template })
    }

    /// Promtail's `getReplacedEntry`: groups that overlap an earlier replaced group are
    /// not written again, but their replacement is still recorded.
    fn replaced(&self, input: &str, data: &mut BTreeMap<String, String>) -> Result<(String, HashMap<String, String>), String> {
        let mut result = String::with_capacity(input.len());
        let mut previous_end = 0;
        let mut replacements = HashMap::new();
        for captures in self.expression.captures_iter(input) {
            for group in captures.iter().skip(1) {
                let Some(group) = group else { continue };
                data.insert("Value".into(), group.as_str().to_string());
                let rendered = self.template.render(data)?;
                if previous_end == 0 || previous_end < group.start() {
                    result.push_str(input.get(previous_end..group.start()).unwrap_or(""));
                    result.push_str(&rendered);
                    previous_end = group.end();
                }
                replacements.insert(group.as_str().to_string(), rendered);
            }
        }
        result.push_str(input.get(previous_end..).unwrap_or(""));
        Ok((result, replacements))
    }
}

impl Stage for Replace {
    fn process(&mut self, mut item: Item, _ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        let Some(input) = item.input(self.source.as_deref()) else {
            out.push(item);
            return;
        };
        let Some(first) = self.expression.captures(&input) else {
            out.push(item);
            return;
        };
        let mut data = template_data(&item);
        let Ok((result, replacements)) = self.replaced(&input, &mut data) else {
            out.push(item);
            return;
        };
        for (index, name) in self.expression.capture_names().enumerate() {
            let Some(name) = name else { continue };
            let captured = first.get(index).map(|m| m.as_str()).unwrap_or("");
            if let Some(replacement) = replacements.get(captured) {
                item.extracted.insert(name.to_string(), Some(replacement.clone()));
            }
        }
        match &self.source {
            Some(key) => {
                item.extracted.insert(key.clone(), Some(result));
            }
            None => item.entry.line = result,
        }
        out.push(item);
    }
}

/// `decolorize`: removes ANSI escape sequences (colours, cursor moves) from the line.
#[derive(Debug)]
pub struct Decolorize {
    ansi: regex::Regex,
}

impl Decolorize {
    pub fn new(config: &Value) -> Result<Decolorize, String> {
        Fields::new(config, &[])?;
        // The expression Loki's decolorize uses (from acarl005/stripansi).
        let pattern =
            r"[\x1b\x9b][\[\]()#;?]*(?:(?:(?:[a-zA-Z\d]*(?:;[a-zA-Z\d]*)*)?\x07)|(?:(?:\d{1,4}(?:;\d{0,4})*)?[\dA-PRZcf-ntqry=><~]))";
        Ok(Decolorize { ansi: go_regex("decolorize", pattern)? })
    }
}

impl Stage for Decolorize {
    fn process(&mut self, mut item: Item, _ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        if let std::borrow::Cow::Owned(clean) = self.ansi.replace_all(&item.entry.line, "") {
            item.entry.line = clean;
        }
        out.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn with(line: &str, extracted: &[(&str, &str)]) -> Item {
        let mut item = Item::new(entry(line));
        for (k, v) in extracted {
            item.extracted.insert(k.to_string(), Some(v.to_string()));
        }
        item
    }

    fn value(item: &Item, key: &str) -> Option<String> {
        item.value(key).map(str::to_string)
    }

    #[test]
    fn template_docs_examples() {
        let out = run_one("template", "{source: new_key, template: 'hello world!'}", with("l", &[]));
        assert_eq!(value(&out[0], "new_key").as_deref(), Some("hello world!"));
        let out = run_one("template", "{source: app, template: '{{ .Value }}_some_suffix'}", with("l", &[("app", "loki")]));
        assert_eq!(value(&out[0], "app").as_deref(), Some("loki_some_suffix"));
        let out = run_one("template", "{source: app, template: '{{ ToLower .Value }}'}", with("l", &[("app", "LOKI")]));
        assert_eq!(value(&out[0], "app").as_deref(), Some("loki"));
        let cfg = r#"{source: output_msg, template: '{{ .level }} for app {{ ToUpper .app }}'}"#;
        let out = run_one("template", cfg, with("l", &[("level", "warn"), ("app", "loki")]));
        assert_eq!(value(&out[0], "output_msg").as_deref(), Some("warn for app LOKI"));
        let cfg = r#"{source: app, template: '{{ Replace .Value "loki" "blokey" 1 }}'}"#;
        let out = run_one("template", cfg, with("l", &[("app", "loki loki")]));
        assert_eq!(value(&out[0], "app").as_deref(), Some("blokey loki"));
        let out = run_one("template", "{source: line, template: '{{ .Entry }}!'}", with("the line", &[]));
        assert_eq!(value(&out[0], "line").as_deref(), Some("the line!"));
        // empty result deletes the key
        let out = run_one("template", "{source: app, template: ''}", with("l", &[("app", "loki")]));
        assert_eq!(out[0].extracted.get("app"), None);
    }

    #[test]
    fn replace_docs_examples() {
        let line = r#"11.11.11.11 - frank [25/Jan/2000:14:00:01 -0500] "GET /1986.js HTTP/1.1" 200 932 "-" "Mozilla/5.0""#;
        let cfg = r#"{expression: '^(?P<ip>\S+) (?P<identd>\S+) (?P<user>\S+) \[(?P<timestamp>[\w:/]+\s[+\-]\d{4})\] "(?P<action>\S+)\s?(?P<path>\S+)?\s?(?P<protocol>\S+)?" (?P<status>\d{3}|-) (\d+|-)\s?"?(?P<referer>[^"]*)"?\s?"?(?P<useragent>[^"]*)?"?$', replace: '{{ if eq .Value "200" }}{{ Replace .Value "200" "HttpStatusOk" -1 }}{{ else }}{{ .Value | ToUpper }}{{ end }}'}"#;
        let out = run_one("replace", cfg, with(line, &[]));
        assert_eq!(
            out[0].entry.line,
            r#"11.11.11.11 - FRANK [25/JAN/2000:14:00:01 -0500] "GET /1986.JS HTTP/1.1" HttpStatusOk 932 "-" "MOZILLA/5.0""#
        );
        assert_eq!(value(&out[0], "user").as_deref(), Some("FRANK"));
        assert_eq!(value(&out[0], "status").as_deref(), Some("HttpStatusOk"));

        // masking, with the default empty replacement removing the group
        let out = run_one("replace", r#"{expression: 'password (\S+)', replace: '****'}"#, with("login password secret ok", &[]));
        assert_eq!(out[0].entry.line, "login password **** ok");
        let out = run_one("replace", r#"{expression: '(\d+)'}"#, with("a1b22c", &[]));
        assert_eq!(out[0].entry.line, "abc");
        // every match, not only the first
        let cfg = r#"{expression: '(\d{2}.\d{2}.\d{2}.\d{2}) - (\S+)', replace: '{{ .Value | ToUpper }}'}"#;
        let out = run_one("replace", cfg, with("11.11.11.11 - frank 12.12.12.12 - frank", &[]));
        assert_eq!(out[0].entry.line, "11.11.11.11 - FRANK 12.12.12.12 - FRANK");
        // on an extracted source
        let out = run_one("replace", r#"{expression: '(\d+)', source: msg, replace: 'N'}"#, with("keep", &[("msg", "id 42")]));
        assert_eq!(out[0].entry.line, "keep");
        assert_eq!(value(&out[0], "msg").as_deref(), Some("id N"));
        // no match: unchanged
        let out = run_one("replace", r#"{expression: '(\d+)', replace: 'N'}"#, with("none", &[]));
        assert_eq!(out[0].entry.line, "none");
    }

    #[test]
    fn decolorize_stage() {
        let out = run_one("decolorize", "{}", with("\u{1b}[0;32mINFO\u{1b}[0m started \u{1b}[1;31merr\u{1b}[0m", &[]));
        assert_eq!(out[0].entry.line, "INFO started err");
        let out = run_one("decolorize", "", with("plain", &[]));
        assert_eq!(out[0].entry.line, "plain");
    }

    #[test]
    fn config_errors() {
        assert!(build_err("template", "{template: x}").contains("source is required"));
        assert!(build_err("template", "{source: a, template: '{{ Nope }}'}").contains("Nope"));
        assert!(build_err("replace", "{replace: x}").contains("expression is required"));
        assert!(build_err("replace", "{expression: '(a', replace: x}").contains("expression"));
        assert!(build_err("decolorize", "{strip: true}").contains("\"strip\""));
    }
}
