//! Printing a query response as logcli's `QueryResultPrinter` does.
//!
//! Log streams: the labels every stream shares are factored out and reported once on
//! stderr ("Common labels: ..."), `--include-label`/`--exclude-label` filter the rest,
//! entries of all streams are merged in time order (newest first unless `--forward`)
//! and printed through the [`LogOutput`]. When paging, the entries sharing the previous
//! page's last timestamp come back in the next page; they are recognised by
//! timestamp, labels and line and not printed twice.
//!
//! Metric results (matrix, vector, scalar) are printed as `json.MarshalIndent` of the
//! Prometheus model types: `{"metric": {..}, "values": [[t, "v"], ..]}`.

use crate::Error;
use crate::args::LogDisplayArgs;
use crate::client::log;
use crate::gojson;
use crate::labels::{self, Labels};
use crate::output::LogOutput;
use serde_json::{Map, Value};

/// The entries of a page that share its last timestamp (they come back in the next).
#[derive(Clone, Debug, Default)]
pub struct Boundary {
    pub ts: i64,
    pub entries: Vec<(Labels, String)>,
}

impl Boundary {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn contains(&self, ts: i64, labels: &Labels, line: &str) -> bool {
        ts == self.ts && self.entries.iter().any(|(l, text)| l == labels && text == line)
    }
}

/// One printed page of log entries.
pub struct StreamsPage {
    /// The formatted lines, each ending in `\n`.
    pub text: String,
    /// Entries printed (not counting boundary duplicates).
    pub printed: usize,
    /// Entries in the response.
    pub received: usize,
    pub boundary: Boundary,
}

/// Prints responses according to the display flags.
pub struct Printer<'a> {
    pub output: &'a LogOutput,
    pub logs: &'a LogDisplayArgs,
    pub quiet: bool,
}

struct Row {
    ts: i64,
    stream: usize,
    line: String,
}

/// One stream of a response: its labels and `(ts, line)` entries.
pub type Stream = (Labels, Vec<(i64, String)>);

/// The `streams` of a response.
pub fn parse_streams(result: &Value) -> Result<Vec<Stream>, Error> {
    let bad = |reason: String| Error::BadResponse { url: "query".into(), reason };
    let items = result.as_array().ok_or_else(|| bad("result is not an array".into()))?;
    let mut streams = Vec::with_capacity(items.len());
    for item in items {
        let stream_labels = labels::from_json(&item["stream"]);
        let values = item["values"].as_array().ok_or_else(|| bad(format!("stream without values: {item}")))?;
        let mut entries = Vec::with_capacity(values.len());
        for value in values {
            let ts = value[0].as_str().and_then(|t| t.parse::<i64>().ok());
            let line = value[1].as_str();
            let (Some(ts), Some(line)) = (ts, line) else {
                return Err(bad(format!("entry is not [\"<ns>\", \"<line>\"]: {value}")));
            };
            entries.push((ts, line.to_string()));
        }
        streams.push((stream_labels, entries));
    }
    Ok(streams)
}

impl Printer<'_> {
    /// Formats one page of streams; `limit` caps the entries printed.
    pub fn streams_page(&self, result: &Value, previous: &Boundary, forward: bool, limit: Option<usize>) -> Result<StreamsPage, Error> {
        let streams = parse_streams(result)?;
        let mut common = Labels::new();
        if !self.logs.include_common_labels {
            common = labels::common(streams.iter().map(|(l, _)| l));
        }
        if !self.logs.include_label.is_empty() {
            common = labels::matching(&common, &self.logs.include_label, false);
        }
        if !self.quiet {
            if !common.is_empty() {
                log(&format!("Common labels: {}", self.output.red(&labels::to_string(&common))));
            }
            if !self.logs.exclude_label.is_empty() {
                log(&format!("Ignoring labels key: {}", self.output.red(&self.logs.exclude_label.join(","))));
            }
            if !self.logs.include_label.is_empty() {
                log(&format!("Print only labels key: {}", self.output.red(&self.logs.include_label.join(","))));
            }
        }
        let mut shown: Vec<Labels> = Vec::with_capacity(streams.len());
        let mut max_labels_len = self.logs.labels_length;
        for (stream_labels, _) in &streams {
            let mut set = labels::subtract(stream_labels, &common);
            if !self.logs.include_label.is_empty() {
                set = labels::matching(&set, &self.logs.include_label, true);
            }
            if !self.logs.exclude_label.is_empty() {
                set = labels::matching(&set, &self.logs.exclude_label, false);
            }
            max_labels_len = max_labels_len.max(labels::to_string(&set).len());
            shown.push(set);
        }
        let mut rows = Vec::new();
        for (index, (_, entries)) in streams.iter().enumerate() {
            for (ts, line) in entries {
                rows.push(Row { ts: *ts, stream: index, line: line.clone() });
            }
        }
        if forward {
            rows.sort_by_key(|row| row.ts);
        } else {
            rows.sort_by_key(|row| std::cmp::Reverse(row.ts));
        }
        let mut text = String::new();
        let mut printed = 0;
        for row in &rows {
            if limit.is_some_and(|limit| printed >= limit) {
                break;
            }
            if previous.contains(row.ts, &streams[row.stream].0, &row.line) {
                continue;
            }
            text.push_str(&self.output.format(row.ts, &shown[row.stream], max_labels_len, &row.line));
            text.push('\n');
            printed += 1;
        }
        let mut boundary = Boundary::default();
        if let Some(last) = rows.last() {
            boundary.ts = last.ts;
            for row in rows.iter().filter(|row| row.ts == last.ts) {
                boundary.entries.push((streams[row.stream].0.clone(), row.line.clone()));
            }
        }
        Ok(StreamsPage { text, printed, received: rows.len(), boundary })
    }
}

/// A sample or point `[t, "v"]` as the Prometheus model marshals it.
fn point(value: &Value) -> Value {
    value.clone()
}

fn metric_object(value: &Value) -> Value {
    let mut object = Map::new();
    for (name, value) in labels::from_json(value) {
        object.insert(name, Value::String(value));
    }
    Value::Object(object)
}

/// The indented JSON logcli prints for a metric result (`matrix`, `vector`, `scalar`).
pub fn metric_text(result_type: &str, result: &Value) -> Result<String, Error> {
    let bad = |reason: String| Error::BadResponse { url: "query".into(), reason };
    let value = match result_type {
        "scalar" => point(result),
        "vector" | "matrix" => {
            let items = result.as_array().ok_or_else(|| bad(format!("{result_type} result is not an array")))?;
            let key = if result_type == "vector" { "value" } else { "values" };
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let mut object = Map::new();
                object.insert("metric".into(), metric_object(&item["metric"]));
                object.insert(key.into(), point(&item[key]));
                out.push(Value::Object(object));
            }
            Value::Array(out)
        }
        other => return Err(bad(format!("unable to print unsupported type: {other}"))),
    };
    Ok(gojson::indent(&value))
}

/// `--stats`: the response's statistics on stderr, one `key value` line each, keys
/// dotted by section (`summary.totalEntriesReturned`), aligned like logcli's tabwriter.
pub fn stats_text(stats: &Value) -> String {
    let mut pairs = Vec::new();
    flatten("", stats, &mut pairs);
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in pairs {
        out.push_str(&format!("{key:<width$} {value}\n"));
    }
    out
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten(&name, item, out);
            }
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Mode;
    use crate::timefmt::Zone;
    use serde_json::json;

    fn display() -> LogDisplayArgs {
        LogDisplayArgs {
            forward: false,
            no_labels: false,
            exclude_label: vec![],
            include_label: vec![],
            include_common_labels: false,
            labels_length: 0,
            colored_output: false,
        }
    }

    #[test]
    fn page_merges_streams_and_skips_the_previous_boundary() {
        let output = LogOutput { mode: Mode::Raw, zone: Zone::Utc, no_labels: false, colored_labels: false, color: false };
        let logs = display();
        let printer = Printer { output: &output, logs: &logs, quiet: true };
        let result = json!([
            {"stream": {"job": "a"}, "values": [["30", "a3"], ["10", "a1"]]},
            {"stream": {"job": "b"}, "values": [["20", "b2"], ["10", "b1"]]}
        ]);
        let page = printer.streams_page(&result, &Boundary::default(), false, None).unwrap();
        assert_eq!(page.text, "a3\nb2\na1\nb1\n");
        assert_eq!((page.printed, page.received, page.boundary.len(), page.boundary.ts), (4, 4, 2, 10));
        let again = json!([{"stream": {"job": "b"}, "values": [["10", "b1"], ["5", "b0"]]}]);
        let next = printer.streams_page(&again, &page.boundary, false, Some(10)).unwrap();
        assert_eq!(next.text, "b0\n");
        let capped = printer.streams_page(&result, &Boundary::default(), true, Some(2)).unwrap();
        assert_eq!(capped.text, "a1\nb1\n");
    }

    #[test]
    fn vector_prints_like_marshal_indent() {
        let text = metric_text("vector", &json!([{"metric": {"b": "2", "a": "1"}, "value": [1700000000.5, "3"]}])).unwrap();
        assert_eq!(
            text,
            "[\n  {\n    \"metric\": {\n      \"a\": \"1\",\n      \"b\": \"2\"\n    },\n    \"value\": [\n      1700000000.5,\n      \"3\"\n    ]\n  }\n]"
        );
        assert!(metric_text("bogus", &json!([])).is_err());
    }
}
