//! The agent's own metrics, served on `/metrics` in Prometheus' text format, named as
//! Promtail names them so existing dashboards and alerts keep working.
//!
//! A small registry of atomic counters keyed by name and label values: the hot paths
//! hold an `Arc<AtomicU64>` and never touch the registry's lock.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

pub const READ_BYTES: &str = "promtail_read_bytes_total";
pub const READ_LINES: &str = "promtail_read_lines_total";
/// A gauge despite its name (as in Promtail): each followed file's size.
pub const FILE_BYTES: &str = "promtail_file_bytes_total";
pub const SENT_BYTES: &str = "promtail_sent_bytes_total";
pub const SENT_ENTRIES: &str = "promtail_sent_entries_total";
pub const DROPPED_ENTRIES: &str = "promtail_dropped_entries_total";
/// Lines dropped before reaching a client (pipeline `drop`/`match`, too long).
pub const DROPPED_LINES: &str = "logentry_dropped_lines_total";
pub const DROPPED_BYTES: &str = "promtail_dropped_bytes_total";
pub const ENCODED_BYTES: &str = "promtail_encoded_bytes_total";
pub const RETRIES: &str = "promtail_batch_retries_total";
pub const REQUEST_SECONDS: &str = "promtail_request_duration_seconds";
pub const SYSLOG_ENTRIES: &str = "promtail_syslog_target_entries_total";
pub const SYSLOG_ERRORS: &str = "promtail_syslog_target_parsing_errors_total";
pub const PUSH_ENTRIES: &str = "promtail_push_target_entries_total";
pub const OTLP_ENTRIES: &str = "skald_agent_otlp_target_entries_total";

fn help(name: &str) -> &'static str {
    match name {
        READ_BYTES => "Bytes read from each file.",
        READ_LINES => "Lines read from each file.",
        FILE_BYTES => "Number of bytes total.",
        SENT_BYTES => "Bytes of log lines sent to each client.",
        SENT_ENTRIES => "Entries sent to each client.",
        DROPPED_ENTRIES => "Entries dropped, by client, tenant and reason.",
        DROPPED_BYTES => "Line bytes dropped, by client, tenant and reason.",
        ENCODED_BYTES => "Bytes encoded and ready to send, by client.",
        RETRIES => "Batch sends retried, by client.",
        DROPPED_LINES => "Lines dropped by pipeline stages or the line size limit, by reason.",
        SYSLOG_ENTRIES => "Syslog messages received.",
        SYSLOG_ERRORS => "Syslog messages that could not be parsed.",
        PUSH_ENTRIES => "Entries received by loki_push_api targets.",
        OTLP_ENTRIES => "Log records received by otlp targets.",
        _ => "",
    }
}

type Key = (&'static str, Vec<(&'static str, String)>);

#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<Key, Arc<AtomicU64>>>,
    /// `promtail_files_active_total`: files being tailed now.
    pub files_active: AtomicI64,
    /// `promtail_request_duration_seconds{status_code, host}`.
    requests: Mutex<BTreeMap<(String, String), Histogram>>,
}

/// Prometheus' default buckets, as Promtail's request histogram uses.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Observations at or below each bucket's bound (cumulative when rendered).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    /// The counter with this name and these label values (created at 0).
    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Arc<AtomicU64> {
        let key: Key = (name, labels.iter().map(|(k, v)| (*k, v.to_string())).collect());
        self.counters.lock().entry(key).or_default().clone()
    }

    pub fn add(&self, name: &'static str, labels: &[(&'static str, &str)], value: u64) {
        self.counter(name, labels).fetch_add(value, Ordering::Relaxed);
    }

    /// Sum of a counter over all label values.
    pub fn total(&self, name: &str) -> u64 {
        self.counters.lock().iter().filter(|((n, _), _)| *n == name).map(|(_, c)| c.load(Ordering::Relaxed)).sum()
    }

    /// One push request: `status_code` is the HTTP status or `failed` (no answer).
    pub fn observe_request(&self, status_code: &str, host: &str, seconds: f64) {
        let mut requests = self.requests.lock();
        let histogram = requests.entry((status_code.to_string(), host.to_string())).or_default();
        if let Some(i) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            histogram.buckets[i] += 1;
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = self.counters.lock();
        let mut last_name = "";
        for ((name, labels), value) in counters.iter() {
            if *name != last_name {
                let _ = writeln!(out, "# HELP {name} {}", help(name));
                let kind = if *name == FILE_BYTES { "gauge" } else { "counter" };
                let _ = writeln!(out, "# TYPE {name} {kind}");
                last_name = name;
            }
            out.push_str(name);
            if !labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", value.load(Ordering::Relaxed));
        }
        drop(counters);
        let _ = writeln!(out, "# HELP promtail_files_active_total Files being tailed.");
        let _ = writeln!(out, "# TYPE promtail_files_active_total gauge");
        let _ = writeln!(out, "promtail_files_active_total {}", self.files_active.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP {REQUEST_SECONDS} Duration of send requests.");
        let _ = writeln!(out, "# TYPE {REQUEST_SECONDS} histogram");
        for ((status, host), histogram) in self.requests.lock().iter() {
            let labels = format!("status_code=\"{}\",host=\"{}\"", escape(status), escape(host));
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(histogram.buckets) {
                cumulative += count;
                let _ = writeln!(out, "{REQUEST_SECONDS}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{REQUEST_SECONDS}_bucket{{{labels},le=\"+Inf\"}} {}", histogram.count);
            let _ = writeln!(out, "{REQUEST_SECONDS}_sum{{{labels}}} {}", histogram.sum);
            let _ = writeln!(out, "{REQUEST_SECONDS}_count{{{labels}}} {}", histogram.count);
        }
        out
    }
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let metrics = Metrics::default();
        metrics.add(READ_LINES, &[("path", "/a \"b\"")], 3);
        metrics.add(READ_LINES, &[("path", "/c")], 2);
        let text = metrics.render();
        assert!(text.contains("promtail_read_lines_total{path=\"/a \\\"b\\\"\"} 3"), "{text}");
        assert!(text.contains("promtail_read_lines_total{path=\"/c\"} 2"), "{text}");
        assert_eq!(text.matches("# TYPE promtail_read_lines_total counter").count(), 1);
        assert_eq!(metrics.total(READ_LINES), 5);
    }

    #[test]
    fn request_histogram_is_cumulative() {
        let metrics = Metrics::default();
        metrics.observe_request("204", "h:1", 0.003);
        metrics.observe_request("204", "h:1", 0.2);
        metrics.observe_request("failed", "h:1", 30.0);
        let text = metrics.render();
        assert!(text.contains("# TYPE promtail_request_duration_seconds histogram"), "{text}");
        assert!(text.contains("promtail_request_duration_seconds_bucket{status_code=\"204\",host=\"h:1\",le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("promtail_request_duration_seconds_bucket{status_code=\"204\",host=\"h:1\",le=\"0.25\"} 2"), "{text}");
        assert!(text.contains("promtail_request_duration_seconds_bucket{status_code=\"failed\",host=\"h:1\",le=\"10\"} 0"), "{text}");
        assert!(text.contains("promtail_request_duration_seconds_bucket{status_code=\"failed\",host=\"h:1\",le=\"+Inf\"} 1"), "{text}");
        assert!(text.contains("promtail_request_duration_seconds_count{status_code=\"204\",host=\"h:1\"} 2"), "{text}");
    }
}
