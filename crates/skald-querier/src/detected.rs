//! Detected labels and fields, as Loki computes them for Grafana's Logs Drilldown
//! (`pkg/querier/querier.go` DetectedLabels, `pkg/querier/queryrange/detected_fields.go`).
//!
//! - **Labels**: every stream label of the streams matching the optional selector, with
//!   its number of distinct values. A label whose values are all numbers or UUIDs (IDs)
//!   is dropped, unless it has at most two values that are all `0`/`1` (booleans), or it
//!   is one of Loki's static labels (`cluster`, `namespace`, `instance`, `pod`).
//! - **Fields**: the newest `line_limit` entries of a log query (its pipeline applied,
//!   labels categorised) are sampled. Each entry contributes its structured metadata
//!   (parsers `null`), the labels the query's own pipeline parsed, and the labels of
//!   `json` or, when the line is not JSON, `logfmt` parsing of the line (parsers
//!   `["json"]`/`["logfmt"]`). A field's type is that of the last value looked at
//!   (int, float, boolean, duration, bytes, else string, tried in that order), its
//!   cardinality the number of distinct values seen; at most `limit` fields are kept.
//!   JSON fields carry their path in the line (`jsonPath`).
//!
//! Loki estimates cardinalities with HyperLogLog sketches; Skald counts exactly.

use crate::querier::{Querier, QueryError, QueryRequest};
use skald_common::LabelSet;
use skald_logql::engine::{Direction, LogEntry, QueryResult, StreamResult};
use skald_logql::pipeline::{ERROR_DETAILS_LABEL, ERROR_LABEL, Pipeline, StreamPipeline, parse_go_float, parse_humanize_bytes};
use skald_logql::{Expr, ParserStage, Stage, parse_expr};
use std::collections::{BTreeMap, BTreeSet};

/// Loki's labels that are kept whatever their values look like.
const STATIC_LABELS: [&str; 4] = ["cluster", "namespace", "instance", "pod"];

/// Loki's default `line_limit` of `detected_fields` (lines sampled).
pub const DEFAULT_LINE_LIMIT: usize = 100;
/// Loki's default `limit` of `detected_fields` (fields returned) and of field values.
pub const DEFAULT_FIELD_LIMIT: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectedLabel {
    pub label: String,
    pub cardinality: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectedField {
    pub label: String,
    /// `string`, `int`, `float`, `boolean`, `duration` or `bytes`.
    pub field_type: &'static str,
    pub cardinality: u64,
    /// `None` for structured metadata (and labels no parser of the line explains).
    pub parsers: Option<Vec<String>>,
    /// Path of a JSON field in the line.
    pub json_path: Option<Vec<String>>,
}

/// Loki's `determineType`: the first of int, float, boolean, duration, bytes that
/// parses the value, else string.
pub fn determine_type(value: &str) -> &'static str {
    if is_go_int(value) {
        "int"
    } else if parse_go_float(value).is_ok() {
        "float"
    } else if matches!(value, "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false" | "False") {
        "boolean"
    } else if skald_logql::pipeline::parse_go_duration(value).is_ok() {
        "duration"
    } else if parse_humanize_bytes(value).is_ok() {
        "bytes"
    } else {
        "string"
    }
}

/// `strconv.ParseInt(value, 10, 64)` succeeds.
fn is_go_int(value: &str) -> bool {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) && value.parse::<i64>().is_ok()
}

/// `uuid.Parse` accepts it (canonical, `urn:uuid:`, braced or 32 hex digits).
fn is_uuid(value: &str) -> bool {
    let v = value.strip_prefix("urn:uuid:").unwrap_or(value);
    let v = v.strip_prefix('{').and_then(|x| x.strip_suffix('}')).unwrap_or(v);
    let hex = |s: &str| s.bytes().all(|c| c.is_ascii_hexdigit());
    match v.len() {
        32 => hex(v),
        36 => {
            let b = v.as_bytes();
            [8, 13, 18, 23].iter().all(|&i| b[i] == b'-') && hex(&v.replace('-', "")) && v.replace('-', "").len() == 32
        }
        _ => false,
    }
}

/// Loki's `shouldRejectLabel`: no values, or all values IDs (numbers or UUIDs) except
/// a boolean-looking pair of `0`/`1`.
pub fn should_reject_label(values: &BTreeSet<String>) -> bool {
    if values.is_empty() {
        return true;
    }
    if values.len() <= 2 && values.iter().all(|v| v == "0" || v == "1") {
        return false;
    }
    values.iter().all(|v| parse_go_float(v).is_ok() || is_uuid(v))
}

/// Detected labels of a set of streams (sorted by name).
pub fn detect_labels(streams: &[LabelSet]) -> Vec<DetectedLabel> {
    let mut values: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for labels in streams {
        for label in labels {
            values.entry(label.name.as_str()).or_default().insert(label.value.clone());
        }
    }
    values
        .into_iter()
        .filter(|(name, vals)| (STATIC_LABELS.contains(name) && !vals.is_empty()) || !should_reject_label(vals))
        .map(|(name, vals)| DetectedLabel { label: name.to_string(), cardinality: vals.len() as u64 })
        .collect()
}

fn is_error_label(name: &str) -> bool {
    name == ERROR_LABEL || name == ERROR_DETAILS_LABEL || name == "__preserve_error__"
}

/// Sanitises a JSON key as Loki's json parser does for label names.
fn sanitize_key(key: &str, is_prefix: bool) -> String {
    let key = key.trim();
    let mut out = String::with_capacity(key.len() + 1);
    if is_prefix && key.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        out.push('_');
    }
    out.extend(key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }));
    out
}

/// Label name -> path of every scalar of a JSON object line (arrays skipped, as `json`).
fn json_paths(line: &str) -> BTreeMap<String, Vec<String>> {
    fn walk(
        value: &serde_json::Map<String, serde_json::Value>,
        name: &str,
        path: &mut Vec<String>,
        out: &mut BTreeMap<String, Vec<String>>,
    ) {
        for (key, v) in value {
            let part = sanitize_key(key, name.is_empty());
            let full = if name.is_empty() { part } else { format!("{name}_{part}") };
            path.push(key.clone());
            match v {
                serde_json::Value::Object(map) => walk(map, &full, path, out),
                serde_json::Value::String(_) | serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {
                    out.entry(full).or_insert_with(|| path.clone());
                }
                _ => {}
            }
            path.pop();
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(line) {
        walk(&map, "", &mut Vec::new(), &mut out);
    }
    out
}

/// The `json` and `logfmt` parsers Loki tries on each sampled line.
struct LineParsers {
    json: Pipeline,
    logfmt: Pipeline,
}

impl LineParsers {
    fn new() -> LineParsers {
        let json = Pipeline::new(&[Stage::Parser(ParserStage::Json(Vec::new()))]).expect("json pipeline compiles");
        let logfmt = Pipeline::new(&[Stage::Parser(ParserStage::Logfmt { strict: false, keep_empty: false, params: Vec::new() })])
            .expect("logfmt pipeline compiles");
        LineParsers { json, logfmt }
    }
}

/// Per-stream parsing state.
struct StreamParsers {
    json: StreamPipeline,
    logfmt: StreamPipeline,
}

/// What one entry yields: field -> values, the parser that explained the line, and
/// JSON paths (Loki's `parseEntry`).
struct ParsedEntry {
    fields: BTreeMap<String, BTreeSet<String>>,
    parser: Option<&'static str>,
    paths: BTreeMap<String, Vec<String>>,
}

fn parse_entry(entry: &LogEntry, parsers: &mut StreamParsers) -> ParsedEntry {
    let mut fields: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for label in entry.parsed.iter().filter(|l| !is_error_label(&l.name)) {
        fields.entry(label.name.clone()).or_default().insert(label.value.clone());
    }
    let mut parser = None;
    let mut paths = BTreeMap::new();
    let ok = |labels: &skald_logql::pipeline::LabelsResult| !labels.parsed.iter().any(|l| l.name == ERROR_LABEL);
    let mut parsed = None;
    if let Some(p) = parsers.json.process(entry.ts, &entry.line, &[])
        && ok(p.labels)
    {
        parser = Some("json");
        parsed = Some(p.labels.parsed.clone());
        paths = json_paths(&entry.line);
    } else if let Some(p) = parsers.logfmt.process(entry.ts, &entry.line, &[])
        && ok(p.labels)
    {
        parser = Some("logfmt");
        parsed = Some(p.labels.parsed.clone());
    }
    let Some(parsed) = parsed else { return ParsedEntry { fields, parser: None, paths } };
    for label in parsed.iter().filter(|l| !is_error_label(&l.name)) {
        fields.entry(label.name.clone()).or_default().insert(label.value.clone());
    }
    ParsedEntry { fields, parser, paths }
}

#[derive(Default)]
struct FieldState {
    values: BTreeSet<String>,
    field_type: &'static str,
    parsers: Vec<String>,
    json_path: Option<Vec<String>>,
}

/// Loki's `parseDetectedFields` over sampled streams (labels = stream labels only).
pub fn detect_fields(streams: &[StreamResult], limit: usize) -> Vec<DetectedField> {
    let line_parsers = LineParsers::new();
    let mut fields: BTreeMap<String, FieldState> = BTreeMap::new();
    let admit = |fields: &mut BTreeMap<String, FieldState>, name: &str| -> bool {
        if fields.contains_key(name) {
            return true;
        }
        if fields.len() >= limit {
            return false;
        }
        fields.insert(name.to_string(), FieldState { field_type: "string", ..Default::default() });
        true
    };
    for stream in streams {
        let mut parsers =
            StreamParsers { json: line_parsers.json.for_stream(&stream.labels), logfmt: line_parsers.logfmt.for_stream(&stream.labels) };
        for entry in &stream.entries {
            let mut metadata: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
            for label in &entry.structured_metadata {
                metadata.entry(&label.name).or_default().insert(&label.value);
            }
            for (name, values) in metadata {
                if !admit(&mut fields, name) {
                    continue;
                }
                let state = fields.get_mut(name).expect("admitted");
                if let Some(first) = values.first() {
                    state.field_type = determine_type(first);
                }
                state.values.extend(values.into_iter().map(str::to_string));
            }
            let parsed = parse_entry(entry, &mut parsers);
            for (name, values) in parsed.fields {
                if !admit(&mut fields, &name) {
                    continue;
                }
                let state = fields.get_mut(&name).expect("admitted");
                if let Some(parser) = parsed.parser
                    && !state.parsers.iter().any(|p| p == parser)
                {
                    state.parsers.push(parser.to_string());
                }
                if state.json_path.is_none() && parsed.parser == Some("json") {
                    let base = name.strip_suffix("_extracted").unwrap_or(&name);
                    state.json_path = parsed.paths.get(&name).or_else(|| parsed.paths.get(base)).cloned();
                }
                if let Some(first) = values.first() {
                    state.field_type = determine_type(first);
                }
                state.values.extend(values);
            }
        }
    }
    fields
        .into_iter()
        .map(|(label, state)| DetectedField {
            label,
            field_type: state.field_type,
            cardinality: state.values.len() as u64,
            parsers: if state.parsers.is_empty() { None } else { Some(state.parsers) },
            json_path: state.json_path,
        })
        .collect()
}

/// Distinct values of one field in sampled streams (structured metadata and parsed
/// labels), at most `limit`, sorted.
pub fn detect_field_values(streams: &[StreamResult], name: &str, limit: usize) -> Vec<String> {
    let line_parsers = LineParsers::new();
    let mut values: BTreeSet<String> = BTreeSet::new();
    'streams: for stream in streams {
        let mut parsers =
            StreamParsers { json: line_parsers.json.for_stream(&stream.labels), logfmt: line_parsers.logfmt.for_stream(&stream.labels) };
        for entry in &stream.entries {
            if values.len() >= limit {
                break 'streams;
            }
            values.extend(entry.structured_metadata.iter().filter(|l| l.name == name).map(|l| l.value.clone()));
            if let Some(found) = parse_entry(entry, &mut parsers).fields.remove(name) {
                values.extend(found);
            }
        }
    }
    values.into_iter().take(limit).collect()
}

/// A `detected_fields` / `detected_field/{name}/values` request.
#[derive(Debug, Clone)]
pub struct DetectedFieldsRequest {
    pub query: String,
    pub start: i64,
    pub end: i64,
    /// Lines sampled (`line_limit`).
    pub line_limit: usize,
    /// Fields (or values) returned (`limit`).
    pub limit: usize,
}

impl Querier {
    /// Detected labels of the streams matching `query` (all streams without one) in
    /// `[from, through]`.
    pub async fn detected_labels(
        &self,
        tenant: &str,
        query: Option<&str>,
        from: i64,
        through: i64,
    ) -> Result<Vec<DetectedLabel>, QueryError> {
        let matchers = Self::parse_selector(query.filter(|q| q.trim() != "{}"))?;
        let mut streams = self.recent.series(tenant, &matchers).await?;
        streams.extend(self.store.select(tenant, &matchers, from, through).into_iter().map(|s| s.labels));
        streams.sort();
        streams.dedup();
        Ok(detect_labels(&streams))
    }

    /// The newest `line_limit` entries of a log query, labels categorised, streams
    /// sorted by labels.
    async fn sample(&self, tenant: &str, request: &DetectedFieldsRequest) -> Result<Vec<StreamResult>, QueryError> {
        if !matches!(parse_expr(&request.query)?, Expr::Log(_)) {
            return Err(QueryError::BadRequest("only log queries are supported: the query must be a log selector".into()));
        }
        let output = self
            .query(
                tenant,
                QueryRequest {
                    query: request.query.clone(),
                    start: request.start,
                    end: request.end,
                    step: 1_000_000_000,
                    limit: request.line_limit,
                    direction: Direction::Backward,
                    instant: false,
                    categorize_labels: true,
                },
            )
            .await?;
        let QueryResult::Streams(mut streams) = output.result else { return Ok(Vec::new()) };
        streams.sort_by_cached_key(|s| s.labels.to_string());
        Ok(streams)
    }

    pub async fn detected_fields(&self, tenant: &str, request: &DetectedFieldsRequest) -> Result<Vec<DetectedField>, QueryError> {
        let streams = self.sample(tenant, request).await?;
        Ok(detect_fields(&streams, request.limit))
    }

    pub async fn detected_field_values(
        &self,
        tenant: &str,
        name: &str,
        request: &DetectedFieldsRequest,
    ) -> Result<Vec<String>, QueryError> {
        let streams = self.sample(tenant, request).await?;
        Ok(detect_field_values(&streams, name, request.limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skald_common::Label;

    #[test]
    fn types_as_loki_detects_them() {
        for (value, want) in [
            ("42", "int"),
            ("-7", "int"),
            ("1", "int"),
            ("3.25", "float"),
            ("1e3", "float"),
            ("NaN", "float"),
            ("true", "boolean"),
            ("F", "boolean"),
            ("150ms", "duration"),
            ("1h30m", "duration"),
            ("10MB", "bytes"),
            ("1.5 KiB", "bytes"),
            ("hello", "string"),
            ("GET", "string"),
            ("", "string"),
        ] {
            assert_eq!(determine_type(value), want, "{value:?}");
        }
    }

    #[test]
    fn labels_reject_ids_but_keep_static_and_booleans() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert!(should_reject_label(&set(&["1", "2", "3"])));
        assert!(should_reject_label(&set(&["3f2504e0-4f89-11d3-9a0c-0305e82c3301"])));
        assert!(!should_reject_label(&set(&["0", "1"])));
        assert!(!should_reject_label(&set(&["api", "7"])));
        let streams = vec![
            LabelSet::from_pairs([("service_name", "api"), ("pod", "12"), ("req", "1")]),
            LabelSet::from_pairs([("service_name", "db"), ("pod", "13"), ("req", "2")]),
            LabelSet::from_pairs([("service_name", "db"), ("pod", "14"), ("req", "3")]),
        ];
        let got: Vec<(String, u64)> = detect_labels(&streams).into_iter().map(|d| (d.label, d.cardinality)).collect();
        assert_eq!(got, vec![("pod".to_string(), 3), ("service_name".to_string(), 2)]);
    }

    fn entry(line: &str, metadata: &[(&str, &str)], parsed: &[(&str, &str)]) -> LogEntry {
        LogEntry {
            ts: 1,
            line: line.to_string(),
            structured_metadata: metadata.iter().map(|(k, v)| Label::new(*k, *v)).collect(),
            parsed: parsed.iter().map(|(k, v)| Label::new(*k, *v)).collect(),
        }
    }

    #[test]
    fn fields_from_metadata_json_and_logfmt() {
        let streams = vec![StreamResult {
            labels: LabelSet::from_pairs([("app", "web")]),
            entries: vec![
                entry("level=info duration=15ms status=200 msg=\"all good\"", &[("trace_id", "abc")], &[]),
                entry(r#"{"user":{"name":"ann","id":7},"ok":true,"app":"x","tags":[1,2]}"#, &[("trace_id", "def")], &[]),
                entry("plain text line", &[], &[]),
            ],
        }];
        let fields = detect_fields(&streams, 100);
        let find = |name: &str| fields.iter().find(|f| f.label == name).unwrap_or_else(|| panic!("{name} missing in {fields:?}"));
        assert_eq!(find("trace_id").parsers, None);
        assert_eq!(find("trace_id").cardinality, 2);
        assert_eq!(find("duration").field_type, "duration");
        assert_eq!(find("duration").parsers, Some(vec!["logfmt".to_string()]));
        assert_eq!(find("status").field_type, "int");
        assert_eq!(find("msg").field_type, "string");
        assert_eq!(find("user_name").parsers, Some(vec!["json".to_string()]));
        assert_eq!(find("user_name").json_path, Some(vec!["user".to_string(), "name".to_string()]));
        assert_eq!(find("user_id").field_type, "int");
        assert_eq!(find("ok").field_type, "boolean");
        // A JSON key colliding with a stream label is renamed, its path kept.
        assert_eq!(find("app_extracted").json_path, Some(vec!["app".to_string()]));
        assert!(fields.iter().all(|f| f.label != "tags" && f.label != "__error__"));
        assert!(find("status").json_path.is_none());

        // The field limit.
        assert_eq!(detect_fields(&streams, 2).len(), 2);

        let values = detect_field_values(&streams, "trace_id", 100);
        assert_eq!(values, vec!["abc".to_string(), "def".to_string()]);
        assert_eq!(detect_field_values(&streams, "user_name", 100), vec!["ann".to_string()]);
    }
}
