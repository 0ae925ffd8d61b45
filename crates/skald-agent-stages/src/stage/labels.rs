//! Action stages that move extracted values onto the entry: `output`, `labels`,
//! `static_labels`, `labeldrop`, `labelallow`, `structured_metadata`, `tenant`.
//!
//! As in Promtail, a missing or null extracted value leaves the entry as it was. One
//! deliberate difference: a label whose value comes out empty is removed rather than
//! sent as `name=""` (Loki treats an empty label as an absent one anyway).

use super::{Ctx, Item, Stage};
use crate::config::{Fields, describe, string_list, string_map};
use serde_yaml_ng::Value;
use skald_common::is_valid_label_name;

fn check_label_name(name: &str) -> Result<(), String> {
    if is_valid_label_name(name) { Ok(()) } else { Err(format!("invalid label name {name:?}")) }
}

/// `{name: source}` maps where an empty or null source means "the same name".
fn name_to_source(config: &Value, what: &str) -> Result<Vec<(String, String)>, String> {
    if config.is_null() {
        return Err(format!("{what} stage needs a mapping of label name to extracted key"));
    }
    let map = string_map(config)?;
    if map.is_empty() {
        return Err(format!("{what} stage needs a mapping of label name to extracted key"));
    }
    let mut out = Vec::with_capacity(map.len());
    for (name, source) in map {
        check_label_name(&name)?;
        let source = source.filter(|s| !s.is_empty()).unwrap_or_else(|| name.clone());
        out.push((name, source));
    }
    Ok(out)
}

/// `output`: the line becomes the extracted `source` value.
#[derive(Debug)]
pub struct Output {
    source: String,
}

impl Output {
    pub fn new(config: &Value) -> Result<Output, String> {
        let fields = Fields::new(config, &["source"])?;
        Ok(Output { source: fields.required_string("source")? })
    }
}

impl Stage for Output {
    fn process(&mut self, mut item: Item, _ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        if let Some(value) = item.value(&self.source) {
            item.entry.line = value.to_string();
        }
        out.push(item);
    }
}

/// `labels`: stream labels from extracted values.
#[derive(Debug)]
pub struct Labels {
    labels: Vec<(String, String)>,
}

impl Labels {
    pub fn new(config: &Value) -> Result<Labels, String> {
        Ok(Labels { labels: name_to_source(config, "labels")? })
    }
}

impl Stage for Labels {
    fn process(&mut self, mut item: Item, _ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        for (name, source) in &self.labels {
            let Some(value) = item.value(source) else { continue };
            if value.is_empty() {
                item.entry.labels.remove(name);
            } else {
                let value = value.to_string();
                item.entry.labels.insert(name.clone(), value);
            }
        }
        out.push(item);
    }
}

/// `static_labels`: fixed labels.
#[derive(Debug)]
pub struct StaticLabels {
    labels: Vec<(String, String)>,
}

impl StaticLabels {
    pub fn new(config: &Value) -> Result<StaticLabels, String> {
        let map = string_map(config).map_err(|e| format!("static_labels: {e}"))?;
        if map.is_empty() {
            return Err("static_labels stage needs a mapping of label name to value".into());
        }
        let mut labels = Vec::with_capacity(map.len());
        for (name, value) in map {
            check_label_name(&name)?;
            let Some(value) = value else {
                return Err(format!("label {name:?} has no value"));
            };
            labels.push((name, value));
        }
        Ok(StaticLabels { labels })
    }
}

impl Stage for StaticLabels {
    fn process(&mut self, mut item: Item, _ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        for (name, value) in &self.labels {
            if value.is_empty() {
                item.entry.labels.remove(name);
            } else {
                item.entry.labels.insert(name.clone(), value.clone());
            }
        }
        out.push(item);
    }
}

fn label_list(config: &Value, what: &str) -> Result<Vec<String>, String> {
    if !matches!(config, Value::Sequence(_)) {
        return Err(format!("{what} stage needs a list of label names, got {}", describe(config)));
    }
    let names = string_list(config)?;
    if names.is_empty() {
        return Err(format!("{what} stage needs a list of label names"));
    }
    Ok(names)
}

/// `labeldrop`: removes the listed labels.
#[derive(Debug)]
pub struct LabelDrop {
    names: Vec<String>,
}

impl LabelDrop {
    pub fn new(config: &Value) -> Result<LabelDrop, String> {
        Ok(LabelDrop { names: label_list(config, "labeldrop")? })
    }
}

impl Stage for LabelDrop {
    fn process(&mut self, mut item: Item, _ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        for name in &self.names {
            item.entry.labels.remove(name);
        }
        out.push(item);
    }
}

/// `labelallow`: keeps only the listed labels.
#[derive(Debug)]
pub struct LabelAllow {
    names: Vec<String>,
}

impl LabelAllow {
    pub fn new(config: &Value) -> Result<LabelAllow, String> {
        Ok(LabelAllow { names: label_list(config, "labelallow")? })
    }
}

impl Stage for LabelAllow {
    fn process(&mut self, mut item: Item, _ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        item.entry.labels.retain(|name, _| self.names.contains(name));
        out.push(item);
    }
}

/// `structured_metadata`: metadata from extracted values (a name set twice keeps the
/// last value, in its first position).
#[derive(Debug)]
pub struct StructuredMetadata {
    fields: Vec<(String, String)>,
}

impl StructuredMetadata {
    pub fn new(config: &Value) -> Result<StructuredMetadata, String> {
        Ok(StructuredMetadata { fields: name_to_source(config, "structured_metadata")? })
    }
}

impl Stage for StructuredMetadata {
    fn process(&mut self, mut item: Item, _ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        for (name, source) in &self.fields {
            let Some(value) = item.value(source) else { continue };
            let value = value.to_string();
            let metadata = &mut item.entry.structured_metadata;
            match metadata.iter_mut().find(|(n, _)| n == name) {
                Some(existing) => existing.1 = value,
                None => metadata.push((name.clone(), value)),
            }
        }
        out.push(item);
    }
}

#[derive(Debug)]
enum TenantFrom {
    Source(String),
    Label(String),
    Value(String),
}

/// `tenant`: the tenant of the entry, from an extracted value, a label, or a constant.
#[derive(Debug)]
pub struct Tenant {
    from: TenantFrom,
}

impl Tenant {
    pub fn new(config: &Value) -> Result<Tenant, String> {
        let fields = Fields::new(config, &["source", "value", "label"])?;
        let source = fields.string("source")?.filter(|s| !s.is_empty());
        let value = fields.string("value")?.filter(|s| !s.is_empty());
        let label = fields.string("label")?.filter(|s| !s.is_empty());
        let from = match (source, value, label) {
            (Some(s), None, None) => TenantFrom::Source(s),
            (None, Some(v), None) => TenantFrom::Value(v),
            (None, None, Some(l)) => TenantFrom::Label(l),
            (None, None, None) => return Err("one of source, value or label is required".into()),
            _ => return Err("source, value and label are mutually exclusive: set only one".into()),
        };
        Ok(Tenant { from })
    }
}

impl Stage for Tenant {
    fn process(&mut self, mut item: Item, _ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        let tenant = match &self.from {
            TenantFrom::Source(key) => item.value(key).map(str::to_string),
            TenantFrom::Label(name) => item.entry.labels.get(name).cloned(),
            TenantFrom::Value(value) => Some(value.clone()),
        };
        if let Some(tenant) = tenant.filter(|t| !t.is_empty()) {
            item.entry.tenant = Some(tenant);
        }
        out.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn with(line: &str, extracted: &[(&str, Option<&str>)]) -> Item {
        let mut item = Item::new(entry(line));
        for (k, v) in extracted {
            item.extracted.insert(k.to_string(), v.map(str::to_string));
        }
        item
    }

    #[test]
    fn output_stage() {
        let out = run_one("output", "{source: msg}", with("orig", &[("msg", Some("new line"))]));
        assert_eq!(out[0].entry.line, "new line");
        let out = run_one("output", "{source: msg}", with("orig", &[("msg", None)]));
        assert_eq!(out[0].entry.line, "orig");
        let out = run_one("output", "{source: other}", with("orig", &[]));
        assert_eq!(out[0].entry.line, "orig");
    }

    #[test]
    fn labels_stage() {
        let item = with("l", &[("level", Some("info")), ("svc", Some("api")), ("nil", None), ("empty", Some(""))]);
        let out = run_one("labels", "{level: '', app: svc, n: nil, job: empty, absent: }", item);
        let labels = &out[0].entry.labels;
        assert_eq!(labels.get("level").map(String::as_str), Some("info"));
        assert_eq!(labels.get("app").map(String::as_str), Some("api"));
        assert!(!labels.contains_key("n"));
        assert!(!labels.contains_key("job"), "an empty value removes the label");
        assert!(!labels.contains_key("absent"));
    }

    #[test]
    fn static_drop_allow_labels() {
        let out = run_one("static_labels", "{custom: value, env: prod}", with("l", &[]));
        assert_eq!(out[0].entry.labels.get("env").map(String::as_str), Some("prod"));
        let mut item = with("l", &[]);
        item.entry.labels.insert("kubernetes_pod".into(), "p".into());
        item.entry.labels.insert("app".into(), "a".into());
        let out = run_one("labeldrop", "[kubernetes_pod, nothere]", item.clone());
        assert!(!out[0].entry.labels.contains_key("kubernetes_pod"));
        assert!(out[0].entry.labels.contains_key("app"));
        let out = run_one("labelallow", "[app]", item);
        assert_eq!(out[0].entry.labels.keys().collect::<Vec<_>>(), vec!["app"]);
    }

    #[test]
    fn structured_metadata_and_tenant() {
        let item = with("l", &[("trace_id", Some("abc")), ("pod", Some("p1"))]);
        let out = run_one("structured_metadata", "{trace_id: '', pod_name: pod, missing: ''}", item);
        assert_eq!(
            out[0].entry.structured_metadata,
            vec![("pod_name".to_string(), "p1".to_string()), ("trace_id".to_string(), "abc".to_string())]
        );
        assert!(!out[0].entry.labels.contains_key("trace_id"));

        let out = run_one("tenant", "{source: customer}", with("l", &[("customer", Some("team-a"))]));
        assert_eq!(out[0].entry.tenant.as_deref(), Some("team-a"));
        let out = run_one("tenant", "{source: customer}", with("l", &[("customer", Some(""))]));
        assert_eq!(out[0].entry.tenant, None);
        let out = run_one("tenant", "{value: fixed}", with("l", &[]));
        assert_eq!(out[0].entry.tenant.as_deref(), Some("fixed"));
        let out = run_one("tenant", "{label: job}", with("l", &[]));
        assert_eq!(out[0].entry.tenant.as_deref(), Some("test"));
    }

    #[test]
    fn config_errors() {
        assert!(build_err("output", "{}").contains("source is required"));
        assert!(build_err("labels", "{'bad-name': x}").contains("invalid label name \"bad-name\""));
        assert!(build_err("labels", "").contains("mapping"));
        assert!(build_err("static_labels", "{a: }").contains("\"a\" has no value"));
        assert!(build_err("labeldrop", "{a: b}").contains("list of label names"));
        assert!(build_err("labelallow", "[]").contains("list of label names"));
        assert!(build_err("tenant", "{}").contains("one of source, value or label"));
        assert!(build_err("tenant", "{source: a, value: b}").contains("mutually exclusive"));
        assert!(build_err("tenant", "{sourc: a}").contains("\"sourc\""));
    }
}
