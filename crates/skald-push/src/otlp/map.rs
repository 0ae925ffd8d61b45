//! From an OTLP request to streams, with Loki's mapping (`pkg/loghttp/push/otlp.go`,
//! `otlplabels/`): resource attributes become index labels or structured metadata by
//! the tenant's `otlp_config` (Loki's default list first), scope and log attributes
//! structured metadata, the record's fields named metadata fields, the body the line.
//! Resources with the same labels share a stream; a record with index labels of its own
//! goes to the stream with them added.

use super::value::{as_string, flatten, sanitize_name};
use crate::{PushDecodeError, RawStream, StreamLabels};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use regex::Regex;
use skald_common::otlp_config::{AttributesConfig, OtlpConfig};
use skald_common::{Entry, Label};
use std::collections::{BTreeMap, HashMap};

/// What the mapping needs besides the request.
pub struct MappingOptions<'a> {
    /// The tenant's `limits_config.otlp_config`.
    pub config: &'a OtlpConfig,
    /// `distributor.otlp_config.default_resource_attributes_as_index_labels`.
    pub default_index_labels: &'a [String],
    /// The tenant's `discover_service_name`.
    pub discover_service_name: &'a [String],
    /// Unix nanoseconds, for records without any timestamp.
    pub now: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    IndexLabel,
    StructuredMetadata,
    Drop,
}

struct Rule {
    action: Action,
    names: Vec<String>,
    regex: Option<Regex>,
}

fn compile(rules: &[AttributesConfig]) -> Result<Vec<Rule>, PushDecodeError> {
    rules
        .iter()
        .map(|rule| {
            let action = match rule.action.as_str() {
                "index_label" => Action::IndexLabel,
                "drop" => Action::Drop,
                _ => Action::StructuredMetadata,
            };
            let regex = match &rule.regex {
                Some(pattern) => Some(
                    Regex::new(&format!("^(?s:{pattern})$"))
                        .map_err(|e| PushDecodeError::Malformed(format!("otlp_config regex {pattern:?}: {e}")))?,
                ),
                None => None,
            };
            Ok(Rule { action, names: rule.attributes.clone(), regex })
        })
        .collect()
}

/// The first rule naming or matching the raw key wins; no rule: structured metadata.
fn action_for(key: &str, rules: &[Rule]) -> Action {
    for rule in rules {
        if rule.regex.as_ref().is_some_and(|r| r.is_match(key)) || rule.names.iter().any(|n| n == key) {
            return rule.action;
        }
    }
    Action::StructuredMetadata
}

fn malformed(error: String) -> PushDecodeError {
    PushDecodeError::Malformed(format!("symbolizer lookup: {error}"))
}

/// The streams of a request. No record at all: no stream.
pub fn to_streams(request: &ExportLogsServiceRequest, options: &MappingOptions) -> Result<Vec<RawStream>, PushDecodeError> {
    let config = options.config;
    let mut resource_rules = Vec::new();
    if !config.resource_attributes.ignore_defaults && !options.default_index_labels.is_empty() {
        resource_rules.push(Rule { action: Action::IndexLabel, names: options.default_index_labels.to_vec(), regex: None });
    }
    resource_rules.extend(compile(&config.resource_attributes.attributes_config)?);
    let scope_rules = compile(&config.scope_attributes)?;
    let log_rules = compile(&config.log_attributes)?;

    let records: usize = request.resource_logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len()).sum();
    if records == 0 {
        return Ok(Vec::new());
    }
    let mut streams: Vec<(BTreeMap<String, String>, Vec<Entry>)> = Vec::new();
    let mut by_labels: HashMap<BTreeMap<String, String>, usize> = HashMap::new();
    let mut stream_for = |labels: BTreeMap<String, String>, streams: &mut Vec<(BTreeMap<String, String>, Vec<Entry>)>| -> usize {
        *by_labels.entry(labels.clone()).or_insert_with(|| {
            streams.push((labels, Vec::new()));
            streams.len() - 1
        })
    };
    for resource_logs in &request.resource_logs {
        let attributes: &[KeyValue] = resource_logs.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or_default();
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        let mut resource_metadata: Vec<(String, String)> = Vec::new();
        for attribute in attributes {
            let action = action_for(&attribute.key, &resource_rules);
            if action == Action::Drop {
                continue;
            }
            let mut pairs = Vec::new();
            flatten(attribute, &mut pairs).map_err(malformed)?;
            match action {
                Action::IndexLabel => labels.extend(pairs),
                _ => resource_metadata.extend(pairs),
            }
        }
        add_service_name(attributes, &mut labels, options.discover_service_name);
        let base = (!labels.is_empty()).then(|| stream_for(labels.clone(), &mut streams));
        for scope_logs in &resource_logs.scope_logs {
            let mut scope_metadata: Vec<(String, String)> = Vec::new();
            if let Some(scope) = &scope_logs.scope {
                for attribute in &scope.attributes {
                    // index_label is refused for scope attributes when the config is read.
                    if action_for(&attribute.key, &scope_rules) == Action::StructuredMetadata {
                        flatten(attribute, &mut scope_metadata).map_err(malformed)?;
                    }
                }
                push_nonempty(&mut scope_metadata, "scope_name", &scope.name);
                push_nonempty(&mut scope_metadata, "scope_version", &scope.version);
                push_nonzero(&mut scope_metadata, "scope_dropped_attributes_count", u64::from(scope.dropped_attributes_count));
            }
            for record in &scope_logs.log_records {
                let mut metadata: Vec<(String, String)> = Vec::new();
                let mut record_labels: BTreeMap<String, String> = BTreeMap::new();
                for attribute in &record.attributes {
                    if attribute.key == "event_name" && !record.event_name.is_empty() {
                        continue;
                    }
                    let action = action_for(&attribute.key, &log_rules);
                    if action == Action::Drop {
                        continue;
                    }
                    let mut pairs = Vec::new();
                    flatten(attribute, &mut pairs).map_err(malformed)?;
                    match action {
                        Action::IndexLabel => record_labels.extend(pairs),
                        _ => metadata.extend(pairs),
                    }
                }
                if record.time_unix_nano != 0 && record.observed_time_unix_nano != 0 {
                    metadata.push(("observed_timestamp".into(), (record.observed_time_unix_nano as i64).to_string()));
                }
                push_nonzero(&mut metadata, "severity_number", record.severity_number as i64 as u64);
                push_nonempty(&mut metadata, "severity_text", &record.severity_text);
                push_nonzero(&mut metadata, "dropped_attributes_count", u64::from(record.dropped_attributes_count));
                push_nonzero(&mut metadata, "flags", u64::from(record.flags));
                if record.trace_id.iter().any(|b| *b != 0) {
                    metadata.push(("trace_id".into(), hex(&record.trace_id)));
                }
                if record.span_id.iter().any(|b| *b != 0) {
                    metadata.push(("span_id".into(), hex(&record.span_id)));
                }
                push_nonempty(&mut metadata, "event_name", &record.event_name);
                metadata.extend(resource_metadata.iter().cloned());
                metadata.extend(scope_metadata.iter().cloned());
                if config.severity_text_as_label && !record.severity_text.is_empty() {
                    record_labels.insert("severity_text".into(), record.severity_text.clone());
                }
                let ts = match (record.time_unix_nano, record.observed_time_unix_nano) {
                    (0, 0) => options.now,
                    (0, observed) => observed as i64,
                    (time, _) => time as i64,
                };
                let entry = Entry { ts, line: as_string(record.body.as_ref()), metadata: normalise_metadata(metadata) };
                let index = if record_labels.is_empty() {
                    match base {
                        Some(index) => index,
                        None => stream_for(BTreeMap::new(), &mut streams),
                    }
                } else {
                    let mut combined = labels.clone();
                    combined.extend(record_labels);
                    stream_for(combined, &mut streams)
                };
                streams[index].1.push(entry);
            }
        }
    }
    Ok(streams
        .into_iter()
        .filter(|(_, entries)| !entries.is_empty())
        .map(|(labels, entries)| {
            // Empty label values are dropped, as Loki's distributor drops them.
            let labels = labels.into_iter().filter(|(_, value)| !value.is_empty()).map(|(name, value)| Label { name, value }).collect();
            RawStream { labels: StreamLabels::Map(labels), entries }
        })
        .collect())
}

/// `service_name`: from `service.name` when the resource has a non-empty one (whatever
/// its action), else the first of `discover` among the resource's index labels, else
/// `unknown_service`; nothing when discovery is off.
fn add_service_name(attributes: &[KeyValue], labels: &mut BTreeMap<String, String>, discover: &[String]) {
    let has_service_name = attributes.iter().find(|a| a.key == "service.name").is_some_and(|a| !as_string(a.value.as_ref()).is_empty());
    if has_service_name || discover.is_empty() {
        return;
    }
    let found = discover.iter().find_map(|name| labels.get(name).filter(|v| !v.is_empty()).cloned());
    labels.insert("service_name".into(), found.unwrap_or_else(|| "unknown_service".into()));
}

fn push_nonempty(out: &mut Vec<(String, String)>, name: &str, value: &str) {
    if !value.is_empty() {
        out.push((name.into(), value.into()));
    }
}

fn push_nonzero(out: &mut Vec<(String, String)>, name: &str, value: u64) {
    if value != 0 {
        out.push((name.into(), value.to_string()));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Structured metadata as Loki's distributor stores it: names built again (a no-op for
/// names built here), U+FFFD replaced by a space, sorted by name, and every pair of a
/// name that has an empty value somewhere dropped (Prometheus' `labels.NewBuilder`
/// deletes such a name, all its values with it).
fn normalise_metadata(pairs: Vec<(String, String)>) -> Vec<Label> {
    let emptied: std::collections::HashSet<String> =
        pairs.iter().filter(|(_, value)| value.is_empty()).map(|(name, _)| name.clone()).collect();
    let mut labels: Vec<Label> = pairs
        .into_iter()
        .filter(|(name, _)| !emptied.contains(name))
        .filter_map(|(name, value)| {
            let name = sanitize_name(&name).ok()?;
            let value = if value.contains('\u{fffd}') { value.replace('\u{fffd}', " ") } else { value };
            Some(Label { name, value })
        })
        .collect();
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    labels
}
