//! Container log formats: `docker` (the JSON-file driver's `{"log","stream","time"}`)
//! and `cri` (`<time> <stream> <P|F> <content>`, as containerd and CRI-O write).
//!
//! Both are built, as in Promtail, from the ordinary stages (`json`/`regex`, `labels`,
//! `timestamp`, `output`), so they behave exactly like the equivalent hand-written
//! pipeline. `cri` also joins partial lines: a `P` line is held per stream (label set)
//! and prepended to the stream's next line, until an `F` line completes it. At most
//! `max_partial_lines` streams may hold a partial line; past that, every held line is
//! released as it is. With `max_partial_line_size_truncate`, a held line is cut to
//! `max_partial_line_size` bytes.

use super::{Ctx, Item, Stage, Stages, build};
use crate::config::Fields;
use serde_yaml_ng::Value;
use std::collections::BTreeMap;

fn fixed(stages: &[(&str, &str)]) -> Result<Stages, String> {
    let mut built = Vec::with_capacity(stages.len());
    for (name, config) in stages {
        let value: Value = serde_yaml_ng::from_str(config).map_err(|e| format!("internal stage config: {e}"))?;
        built.push(build(name, &value)?);
    }
    Ok(Stages::new(built))
}

/// `docker`: takes no options.
pub fn docker(config: &Value) -> Result<Stages, String> {
    Fields::new(config, &[])?;
    fixed(&[
        ("json", "{expressions: {output: log, stream: stream, timestamp: time}}"),
        ("labels", "{stream: ''}"),
        ("timestamp", "{source: timestamp, format: RFC3339Nano}"),
        ("output", "{source: output}"),
    ])
}

#[derive(Debug)]
pub struct Cri {
    base: Stages,
    max_partial_lines: usize,
    /// Some(bytes) when held lines are truncated.
    truncate_to: Option<usize>,
    /// Held partial line per stream.
    partial: BTreeMap<BTreeMap<String, String>, Item>,
}

impl Cri {
    pub fn new(config: &Value) -> Result<Cri, String> {
        let fields = Fields::new(config, &["max_partial_lines", "max_partial_line_size", "max_partial_line_size_truncate"])?;
        let max_partial_lines = match fields.u64("max_partial_lines")? {
            None | Some(0) => 100,
            Some(n) => usize::try_from(n).map_err(|_| "max_partial_lines: too large".to_string())?,
        };
        let max_size = match fields.string("max_partial_line_size")? {
            None => 0,
            Some(text) => skald_logql::pipeline::parse_humanize_bytes(&text).map_err(|e| format!("max_partial_line_size: {e}"))?,
        };
        let truncate = fields.bool("max_partial_line_size_truncate")?.unwrap_or(false);
        let truncate_to = if truncate {
            if max_size == 0 {
                return Err("max_partial_line_size_truncate needs max_partial_line_size greater than 0".into());
            }
            Some(usize::try_from(max_size).unwrap_or(usize::MAX))
        } else {
            None
        };
        // The `regex` stage Promtail starts with,
        // `^(?s)(?P<time>\S+?) (?P<stream>stdout|stderr) (?P<flags>\S+?) (?P<content>.*)$`,
        // is done by `split_cri_line` (the same matches, several times faster); the rest
        // are the ordinary stages.
        let base =
            fixed(&[("labels", "{stream: ''}"), ("timestamp", "{source: time, format: RFC3339Nano}"), ("output", "{source: content}")])?;
        Ok(Cri { base, max_partial_lines, truncate_to, partial: BTreeMap::new() })
    }

    fn truncate(&self, item: &mut Item) {
        if let Some(max) = self.truncate_to
            && item.entry.line.len() > max
        {
            let mut cut = max;
            while !item.entry.line.is_char_boundary(cut) {
                cut -= 1;
            }
            item.entry.line.truncate(cut);
        }
    }

    fn join(&mut self, mut item: Item) -> Item {
        if let Some(previous) = self.partial.remove(&item.entry.labels) {
            let mut line = previous.entry.line;
            line.push_str(&item.entry.line);
            item.entry.line = line;
        }
        item
    }

    fn after_base(&mut self, item: Item, out: &mut Vec<Item>) {
        let is_partial = item.value("flags") == Some("P");
        if !is_partial {
            let joined = self.partial.contains_key(&item.entry.labels);
            let mut full = self.join(item);
            if joined {
                self.truncate(&mut full);
            }
            out.push(full);
            return;
        }
        if !self.partial.contains_key(&item.entry.labels) && self.partial.len() >= self.max_partial_lines {
            // Too many streams hold a partial line: release them all as they are.
            out.extend(std::mem::take(&mut self.partial).into_values());
        }
        let mut held = self.join(item);
        self.truncate(&mut held);
        self.partial.insert(held.entry.labels.clone(), held);
    }
}

/// Splits a CRI line into time, stream, flags and content exactly as the regex
/// `^(?s)(\S+?) (stdout|stderr) (\S+?) (.*)$` would with Go's (ASCII) `\S`: `None` where
/// the regex does not match.
fn split_cri_line(line: &str) -> Option<(&str, &str, &str, &str)> {
    let is_token = |token: &str| !token.is_empty() && !token.bytes().any(|b| matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r'));
    let (time, rest) = line.split_once(' ')?;
    if !is_token(time) {
        return None;
    }
    let stream = if rest.starts_with("stdout ") {
        "stdout"
    } else if rest.starts_with("stderr ") {
        "stderr"
    } else {
        return None;
    };
    let (flags, content) = rest[stream.len() + 1..].split_once(' ')?;
    if !is_token(flags) {
        return None;
    }
    Some((time, stream, flags, content))
}

impl Stage for Cri {
    fn process(&mut self, mut item: Item, ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        if let Some((time, stream, flags, content)) = split_cri_line(&item.entry.line) {
            let values = [("time", time), ("stream", stream), ("flags", flags), ("content", content)].map(|(k, v)| (k, v.to_string()));
            for (name, value) in values {
                item.extracted.insert(name.to_string(), Some(value));
            }
        }
        let mut parsed = Vec::with_capacity(1);
        self.base.process(item, ctx, &mut parsed);
        for item in parsed {
            self.after_base(item, out);
        }
    }

    fn flush(&mut self, _ctx: &mut Ctx<'_>, all: bool, out: &mut Vec<Item>) {
        if all {
            out.extend(std::mem::take(&mut self.partial).into_values());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cri_splitter_matches_the_regex_it_replaces() {
        let regex =
            crate::config::go_regex("expression", r"^(?s)(?P<time>\S+?) (?P<stream>stdout|stderr) (?P<flags>\S+?) (?P<content>.*)$")
                .unwrap();
        let lines = [
            "2019-01-01T01:00:00.000000001Z stderr F i'm a log message!",
            "2019-01-01T01:00:00Z stdout P part",
            "2019-01-01T01:00:00Z stdout F ",
            "2019-01-01T01:00:00Z stdout F",
            "t stdout F a\nb c",
            "t stdin F x",
            " stdout F x",
            "t\tx stdout F x",
            "t stdout F\tx y",
            "t stdout  F x",
            "t stdoutF x",
            "t  stdout F x",
            "",
            "ümlaut stdout Fü é",
            "t\u{a0} stdout F x",
        ];
        for line in lines {
            let expected = regex
                .captures(line)
                .map(|c| (c.get(1).unwrap().as_str(), c.get(2).unwrap().as_str(), c.get(3).unwrap().as_str(), c.get(4).unwrap().as_str()));
            assert_eq!(super::split_cri_line(line), expected, "{line:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_cri_splitter_matches_the_regex_on_any_line(line in "[a-z0-9:. \t\nPF]{0,12}( (stdout|stderr|stdin) ?)?[ a-zPF\t]{0,8}") {
            let regex = crate::config::go_regex("expression", r"^(?s)(?P<time>\S+?) (?P<stream>stdout|stderr) (?P<flags>\S+?) (?P<content>.*)$").unwrap();
            let expected = regex.captures(&line).map(|c| (c.get(1).unwrap().as_str(), c.get(2).unwrap().as_str(), c.get(3).unwrap().as_str(), c.get(4).unwrap().as_str()));
            proptest::prop_assert_eq!(super::split_cri_line(&line), expected);
        }
    }

    use super::super::test_util::*;
    use super::super::{Drops, build};
    use super::*;

    fn run(stage: &mut Box<dyn Stage>, lines: &[&str]) -> Vec<Item> {
        let mut drops = Drops::new();
        let mut ctx = Ctx { now_ns: 0, drops: &mut drops };
        let mut out = Vec::new();
        for line in lines {
            stage.process(Item::new(entry(line)), &mut ctx, &mut out);
        }
        out
    }

    #[test]
    fn docker_docs_example() {
        let line = r#"{"log":"log message\n","stream":"stderr","time":"2019-04-30T02:12:41.8443515Z"}"#;
        let out = run_one("docker", "{}", Item::new(entry(line)));
        assert_eq!(out[0].entry.line, "log message\n");
        assert_eq!(out[0].entry.labels.get("stream").map(String::as_str), Some("stderr"));
        assert_eq!(out[0].entry.timestamp_ns, 1_556_590_361_844_351_500);
        // not docker JSON: passes through unchanged
        let out = run_one("docker", "", Item::new(entry("plain text")));
        assert_eq!(out[0].entry.line, "plain text");
        assert_eq!(out[0].entry.timestamp_ns, 1_000);
    }

    #[test]
    fn cri_docs_example() {
        let out = run_one("cri", "{}", Item::new(entry("2019-01-01T01:00:00.000000001Z stderr F i'm a log message!")));
        assert_eq!(out[0].entry.line, "i'm a log message!");
        assert_eq!(out[0].entry.labels.get("stream").map(String::as_str), Some("stderr"));
        assert_eq!(out[0].entry.timestamp_ns, 1_546_304_400_000_000_001);
        assert_eq!(out[0].value("flags"), Some("F"));
        // multi-line content is kept whole
        let out = run_one("cri", "{}", Item::new(entry("2019-01-01T01:00:00Z stdout F a\nb")));
        assert_eq!(out[0].entry.line, "a\nb");
    }

    #[test]
    fn cri_partial_lines_are_joined() {
        let mut stage = build("cri", &yaml("{}")).unwrap();
        let out = run(
            &mut stage,
            &[
                "2019-01-01T01:00:00Z stdout P part one, ",
                "2019-01-01T01:00:01Z stdout P part two, ",
                "2019-01-01T01:00:02Z stdout F the end",
                "2019-01-01T01:00:03Z stdout F single",
            ],
        );
        let lines: Vec<&str> = out.iter().map(|i| i.entry.line.as_str()).collect();
        assert_eq!(lines, vec!["part one, part two, the end", "single"]);
        assert_eq!(out[0].entry.timestamp_ns, 1_546_304_402_000_000_000);

        // stdout and stderr are separate streams
        let out = run(
            &mut stage,
            &["2019-01-01T01:00:00Z stdout P out-", "2019-01-01T01:00:00Z stderr F err", "2019-01-01T01:00:00Z stdout F end"],
        );
        let lines: Vec<&str> = out.iter().map(|i| i.entry.line.as_str()).collect();
        assert_eq!(lines, vec!["err", "out-end"]);

        // held lines come out on flush_all
        run(&mut stage, &["2019-01-01T01:00:00Z stdout P dangling"]);
        let mut drops = Drops::new();
        let mut out = Vec::new();
        stage.flush(&mut Ctx { now_ns: 0, drops: &mut drops }, true, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].entry.line, "dangling");
    }

    #[test]
    fn cri_limits() {
        let mut stage = build("cri", &yaml("{max_partial_lines: 1}")).unwrap();
        let mut first = entry("2019-01-01T01:00:00Z stdout P a");
        first.labels.insert("pod".into(), "one".into());
        let mut second = entry("2019-01-01T01:00:00Z stdout P b");
        second.labels.insert("pod".into(), "two".into());
        let mut drops = Drops::new();
        let mut ctx = Ctx { now_ns: 0, drops: &mut drops };
        let mut out = Vec::new();
        stage.process(Item::new(first), &mut ctx, &mut out);
        assert!(out.is_empty());
        stage.process(Item::new(second), &mut ctx, &mut out);
        assert_eq!(out.len(), 1, "the first stream's partial line is released");
        assert_eq!(out[0].entry.line, "a");

        let mut stage = build("cri", &yaml("{max_partial_line_size: 4, max_partial_line_size_truncate: true}")).unwrap();
        let out = run(
            &mut stage,
            &["2019-01-01T01:00:00Z stdout P abcdef", "2019-01-01T01:00:00Z stdout P gh", "2019-01-01T01:00:00Z stdout F ij"],
        );
        assert_eq!(out[0].entry.line, "abcd");
    }

    #[test]
    fn config_errors() {
        assert!(build_err("docker", "{foo: 1}").contains("\"foo\""));
        assert!(build_err("cri", "{max_partial_lines: -1}").contains("max_partial_lines"));
        assert!(build_err("cri", "{max_partial_line_size_truncate: true}").contains("max_partial_line_size"));
        assert!(build_err("cri", "{max_partial_line_size: lots}").contains("max_partial_line_size"));
    }
}
