//! `skald labels`, `series`, `stats`, `volume` and `volume_range`: one request each,
//! printed as logcli prints them.
//!
//! - `labels`: one name (or, given a name, one value) per line;
//! - `series`: one label set per line (`{a="1", b="2"}`), or with `--analyze-labels` a
//!   table of each label's distinct values and the streams it is in;
//! - `stats`: `{`, `  bytes: 1.2kB`, `  chunks: N`, `  streams: N`, `  entries: N`, `}`
//!   (bytes in go-humanize's SI form without the space);
//! - `volume`/`volume_range`: the vector/matrix result as indented JSON.

use crate::Error;
use crate::args::{LabelsArgs, SeriesArgs, StatsArgs, VolumeArgs};
use crate::client::Client;
use crate::labels::{self, Labels};
use crate::output::stdout_wants_color;
use crate::print::{metric_text, stats_text};
use crate::query::write_stdout;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn data_array<'a>(response: &'a Value, what: &str) -> Result<&'a Vec<Value>, Error> {
    response["data"].as_array().ok_or_else(|| Error::BadResponse { url: what.to_string(), reason: format!("no data array in {response}") })
}

/// `skald labels [NAME]`.
pub async fn labels(args: &LabelsArgs) -> Result<(), Error> {
    let client = Client::new(&args.connection)?;
    let (start, end) = args.range.resolve();
    let params = [("start", start.to_string()), ("end", end.to_string())];
    let path = match &args.label {
        Some(name) if !name.is_empty() => format!("/loki/api/v1/label/{}/values", url_path_escape(name)),
        _ => "/loki/api/v1/labels".to_string(),
    };
    let response = client.get_json(&path, &params).await?;
    let mut out = String::new();
    for value in data_array(&response, "labels")? {
        out.push_str(value.as_str().unwrap_or_default());
        out.push('\n');
    }
    write_stdout(&out)
}

/// Go's `url.PathEscape` for one path segment.
fn url_path_escape(segment: &str) -> String {
    let mut out = String::new();
    for byte in segment.bytes() {
        let keep = byte.is_ascii_alphanumeric() || b"-_.~$&+=:@".contains(&byte);
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `skald series MATCHER`.
pub async fn series(args: &SeriesArgs) -> Result<(), Error> {
    let client = Client::new(&args.connection)?;
    let (start, end) = args.range.resolve();
    let params = [("match", args.matcher.clone()), ("start", start.to_string()), ("end", end.to_string())];
    let response = client.get_json("/loki/api/v1/series", &params).await?;
    let streams: Vec<Labels> = data_array(&response, "series")?.iter().map(labels::from_json).collect();
    let text = if args.analyze_labels { analyze(&streams) } else { streams.iter().map(|s| labels::to_string(s) + "\n").collect() };
    write_stdout(&text)
}

/// The `--analyze-labels` table: labels by number of distinct values, most first.
fn analyze(streams: &[Labels]) -> String {
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut in_streams: BTreeMap<&str, usize> = BTreeMap::new();
    for stream in streams {
        for (name, value) in stream {
            values.entry(name).or_default().insert(value);
            *in_streams.entry(name).or_default() += 1;
        }
    }
    let mut rows: Vec<(&str, usize, usize)> =
        values.iter().map(|(name, set)| (*name, set.len(), in_streams.get(name).copied().unwrap_or(0))).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut out = format!("Total Streams:  {}\nUnique Labels:  {}\n\n", streams.len(), values.len());
    let mut table = vec![("Label Name".to_string(), "Unique Values".to_string(), "Found In Streams".to_string())];
    for (name, unique, found) in rows {
        table.push((name.to_string(), unique.to_string(), found.to_string()));
    }
    // Go's tabwriter with padding 2: every column but the last padded to its widest + 2.
    let first = table.iter().map(|r| r.0.len()).max().unwrap_or(0) + 2;
    let second = table.iter().map(|r| r.1.len()).max().unwrap_or(0) + 2;
    for (a, b, c) in table {
        out.push_str(&format!("{a:<first$}{b:<second$}{c}\n"));
    }
    out
}

/// go-humanize's `Bytes` (SI units), with the space removed as Loki's stats do.
pub fn humanize_bytes(bytes: u64) -> String {
    if bytes < 10 {
        return format!("{bytes}B");
    }
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let exponent = ((bytes as f64).ln() / 1000f64.ln()).floor() as usize;
    let exponent = exponent.min(units.len() - 1);
    let value = (bytes as f64 / 1000f64.powi(exponent as i32) * 10.0 + 0.5).floor() / 10.0;
    if value < 10.0 { format!("{value:.1}{}", units[exponent]) } else { format!("{value:.0}{}", units[exponent]) }
}

/// `skald stats QUERY`.
pub async fn stats(args: &StatsArgs) -> Result<(), Error> {
    let client = Client::new(&args.connection)?;
    let (start, end) = args.range.resolve();
    let params = [("query", args.query.clone()), ("start", start.to_string()), ("end", end.to_string())];
    let response = client.get_json("/loki/api/v1/index/stats", &params).await?;
    let number = |key: &str| response[key].as_u64().unwrap_or(0);
    let color = stdout_wants_color();
    let key = |name: &str| if color { format!("\x1b[34m{name}\x1b[0m") } else { name.to_string() };
    let mut out = String::from("{\n");
    out.push_str(&format!("  {}: {}\n", key("bytes"), humanize_bytes(number("bytes"))));
    for name in ["chunks", "streams", "entries"] {
        out.push_str(&format!("  {}: {}\n", key(name), number(name)));
    }
    out.push_str("}\n");
    write_stdout(&out)
}

/// `skald volume QUERY` (`step == None`) and `skald volume_range QUERY`.
pub async fn volume(args: &VolumeArgs, step: Option<i64>) -> Result<(), Error> {
    let client = Client::new(&args.connection)?;
    let (start, end) = args.range.resolve();
    let mut params =
        vec![("query", args.query.clone()), ("start", start.to_string()), ("end", end.to_string()), ("limit", args.limit.to_string())];
    if let Some(step) = step.filter(|s| *s != 0) {
        params.push(("step", (step / 1_000_000_000).to_string()));
    }
    if !args.target_labels.is_empty() {
        params.push(("targetLabels", args.target_labels.join(",")));
    }
    if args.aggregate_by_labels {
        params.push(("aggregateBy", "labels".to_string()));
    }
    let path = if step.is_some() { "/loki/api/v1/index/volume_range" } else { "/loki/api/v1/index/volume" };
    let response = client.get_json(path, &params).await?;
    let data = &response["data"];
    if args.display.stats
        && let Some(stats) = data.get("stats")
    {
        eprint!("{}", stats_text(stats));
    }
    let result_type = data["resultType"].as_str().unwrap_or("vector");
    write_stdout(&metric_text(result_type, &data["result"])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_like_go_humanize() {
        assert_eq!(humanize_bytes(0), "0B");
        assert_eq!(humanize_bytes(9), "9B");
        assert_eq!(humanize_bytes(999), "999B");
        assert_eq!(humanize_bytes(1234), "1.2kB");
        assert_eq!(humanize_bytes(12_345), "12kB");
        assert_eq!(humanize_bytes(1_500_000), "1.5MB");
    }

    #[test]
    fn analyze_table_is_aligned() {
        let streams: Vec<Labels> = vec![
            [("job", "a"), ("pod", "1")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            [("job", "a"), ("pod", "2")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ];
        let expected = "Total Streams:  2\nUnique Labels:  2\n\n\
                        Label Name  Unique Values  Found In Streams\n\
                        pod         2              2\n\
                        job         1              2\n";
        assert_eq!(analyze(&streams), expected);
    }

    #[test]
    fn path_escape() {
        assert_eq!(url_path_escape("a b/c"), "a%20b%2Fc");
    }
}
