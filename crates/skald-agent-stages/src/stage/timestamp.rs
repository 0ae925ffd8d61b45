//! `timestamp`: sets the entry's time from an extracted value.
//!
//! `format` is a Go layout, one of Go's layout names (`RFC3339`, `Stamp`, ...), or
//! `Unix`/`UnixMs`/`UnixUs`/`UnixNs`; `fallback_formats` are tried in order after it.
//! On failure (missing source, no format matched) `action_on_failure: fudge` (the
//! default) sets the time to the last good timestamp of the same stream plus one
//! nanosecond, keeping the order of a stream's lines; `skip` keeps the read time.
//!
//! Unlike Promtail, `location` also applies to the named layouts that carry no offset
//! (`ANSIC`, `Stamp`): a user who names a location expects it to be used.

use super::{Ctx, Item, Stage};
use crate::config::Fields;
use crate::go_time::{self, Location};
use serde_yaml_ng::Value;
use std::collections::HashMap;

/// How many streams' last timestamps the fudge remembers (Promtail's LRU size).
const MAX_REMEMBERED_STREAMS: usize = 10_000;

#[derive(Debug, Clone)]
enum Format {
    Unix,
    UnixMs,
    UnixUs,
    UnixNs,
    Layout(String),
}

impl Format {
    fn new(text: &str) -> Format {
        match text {
            "Unix" => Format::Unix,
            "UnixMs" => Format::UnixMs,
            "UnixUs" => Format::UnixUs,
            "UnixNs" => Format::UnixNs,
            other => Format::Layout(go_time::named_layout(other).unwrap_or(other).to_string()),
        }
    }

    fn parse(&self, value: &str, location: Location, now_ns: i64) -> Result<i64, String> {
        let int = |s: &str| s.parse::<i64>().map_err(|_| format!("cannot parse {s:?} as an integer timestamp"));
        match self {
            Format::Unix => parse_unix_seconds(value),
            Format::UnixMs => int(value)?.checked_mul(1_000_000).ok_or_else(|| "timestamp out of range".to_string()),
            Format::UnixUs => int(value)?.checked_mul(1_000).ok_or_else(|| "timestamp out of range".to_string()),
            Format::UnixNs => int(value),
            Format::Layout(layout) => go_time::resolve(&go_time::parse(layout, value)?, location, now_ns),
        }
    }
}

/// `Unix`: seconds, optionally with a fraction (`1562708916.414123`).
fn parse_unix_seconds(value: &str) -> Result<i64, String> {
    let bad = || format!("cannot parse {value:?} as Unix seconds");
    let (secs_text, frac_text) = match value.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (value, None),
    };
    let secs: i64 = secs_text.parse().map_err(|_| bad())?;
    let mut nanos: i64 = 0;
    if let Some(frac) = frac_text {
        if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        for i in 0..9 {
            let digit = frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
            nanos = nanos * 10 + digit;
        }
    }
    secs.checked_mul(1_000_000_000).and_then(|ns| ns.checked_add(nanos)).ok_or_else(bad)
}

#[derive(Debug)]
pub struct Timestamp {
    source: String,
    formats: Vec<Format>,
    location: Location,
    fudge: bool,
    last_by_stream: HashMap<String, i64>,
}

impl Timestamp {
    pub fn new(config: &Value) -> Result<Timestamp, String> {
        let fields = Fields::new(config, &["source", "format", "fallback_formats", "location", "action_on_failure"])?;
        let source = fields.required_string("source")?;
        let mut formats = vec![Format::new(&fields.required_string("format")?)];
        for fallback in fields.string_list("fallback_formats")?.unwrap_or_default() {
            formats.push(Format::new(&fallback));
        }
        let location = match fields.string("location")? {
            Some(name) => Location::parse(&name).map_err(|e| format!("location: {e}"))?,
            None => Location::Utc,
        };
        let fudge = match fields.string("action_on_failure")?.as_deref() {
            None | Some("fudge") => true,
            Some("skip") => false,
            Some(other) => return Err(format!("action_on_failure: must be fudge or skip, got {other:?}")),
        };
        Ok(Timestamp { source, formats, location, fudge, last_by_stream: HashMap::new() })
    }

    fn parse(&self, item: &Item, now_ns: i64) -> Option<i64> {
        let value = item.value(&self.source)?;
        for format in &self.formats {
            if let Ok(ns) = format.parse(value, self.location, now_ns) {
                return Some(ns);
            }
        }
        None
    }
}

fn stream_key(item: &Item) -> String {
    let mut key = String::new();
    for (name, value) in &item.entry.labels {
        key.push_str(name);
        key.push('\u{0}');
        key.push_str(value);
        key.push('\u{0}');
    }
    key
}

impl Stage for Timestamp {
    fn process(&mut self, mut item: Item, ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        match self.parse(&item, ctx.now_ns) {
            Some(ns) => {
                item.entry.timestamp_ns = ns;
                if self.fudge {
                    if self.last_by_stream.len() >= MAX_REMEMBERED_STREAMS {
                        self.last_by_stream.clear();
                    }
                    self.last_by_stream.insert(stream_key(&item), ns);
                }
            }
            None if self.fudge => {
                if let Some(last) = self.last_by_stream.get_mut(&stream_key(&item)) {
                    *last = last.saturating_add(1);
                    item.entry.timestamp_ns = *last;
                }
            }
            None => {}
        }
        out.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{Drops, build};
    use super::*;

    fn ts(config: &str, value: Option<&str>) -> i64 {
        let mut item = Item::new(entry("line"));
        if let Some(v) = value {
            item.extracted.insert("time".into(), Some(v.into()));
        }
        run_one("timestamp", config, item)[0].entry.timestamp_ns
    }

    #[test]
    fn formats_from_the_docs() {
        let cases: &[(&str, &str, i64)] = &[
            ("{source: time, format: RFC3339}", "2019-01-01T01:00:00Z", 1_546_304_400_000_000_000),
            ("{source: time, format: RFC3339Nano}", "2019-01-01T01:00:00.000000001Z", 1_546_304_400_000_000_001),
            ("{source: time, format: Unix}", "1562708916", 1_562_708_916_000_000_000),
            ("{source: time, format: Unix}", "1562708916.414123", 1_562_708_916_414_123_000),
            ("{source: time, format: UnixMs}", "1562708916414", 1_562_708_916_414_000_000),
            ("{source: time, format: UnixUs}", "1562708916414123", 1_562_708_916_414_123_000),
            ("{source: time, format: UnixNs}", "1562708916000000123", 1_562_708_916_000_000_123),
            ("{source: time, format: '2006-01-02T15:04:05.999999999Z07:00'}", "2019-01-01T01:00:00.5+01:00", 1_546_300_800_500_000_000),
            ("{source: time, format: '2006-01-02 15:04:05', location: America/New_York}", "2019-01-01 01:00:00", 1_546_322_400_000_000_000),
            ("{source: time, format: UnixMs, fallback_formats: [RFC3339]}", "2019-01-01T01:00:00Z", 1_546_304_400_000_000_000),
        ];
        for (config, value, want) in cases {
            assert_eq!(ts(config, Some(value)), *want, "{config} {value}");
        }
    }

    #[test]
    fn failures_fudge_or_skip() {
        // no previous timestamp for the stream: the read time stays
        assert_eq!(ts("{source: time, format: RFC3339}", Some("garbage")), 1_000);
        assert_eq!(ts("{source: time, format: RFC3339, action_on_failure: skip}", None), 1_000);

        let mut stage = build("timestamp", &yaml("{source: time, format: Unix}")).unwrap();
        let mut drops = Drops::new();
        let mut ctx = Ctx { now_ns: 0, drops: &mut drops };
        let mut out = Vec::new();
        let mut good = Item::new(entry("a"));
        good.extracted.insert("time".into(), Some("100".into()));
        stage.process(good, &mut ctx, &mut out);
        stage.process(Item::new(entry("b")), &mut ctx, &mut out);
        stage.process(Item::new(entry("c")), &mut ctx, &mut out);
        let times: Vec<i64> = out.iter().map(|i| i.entry.timestamp_ns).collect();
        assert_eq!(times, vec![100_000_000_000, 100_000_000_001, 100_000_000_002]);
        // another stream is not fudged from this one
        let mut other = Item::new(entry("d"));
        other.entry.labels.insert("job".into(), "other".into());
        out.clear();
        stage.process(other, &mut ctx, &mut out);
        assert_eq!(out[0].entry.timestamp_ns, 1_000);
    }

    #[test]
    fn config_errors() {
        assert!(build_err("timestamp", "{format: RFC3339}").contains("source is required"));
        assert!(build_err("timestamp", "{source: t}").contains("format is required"));
        assert!(build_err("timestamp", "{source: t, format: Unix, location: Nowhere/City}").contains("location"));
        assert!(build_err("timestamp", "{source: t, format: Unix, action_on_failure: retry}").contains("action_on_failure"));
        assert!(build_err("timestamp", "{source: t, format: Unix, fallback_format: [x]}").contains("\"fallback_format\""));
    }
}
