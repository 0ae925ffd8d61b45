//! `multiline`: joins the lines of one logical record (a stack trace, a wrapped message)
//! into one entry.
//!
//! Lines are held per stream (label set). A line matching `firstline` starts a new
//! block and releases the previous one; the other lines are appended with `\n`. A block
//! is also released when it reaches `max_lines` (default 128), and by
//! [`Stage::flush`] once no line has arrived for the stream during `max_wait_time`
//! (default 3s) of the caller's clock — Promtail's timer is reset by every line, so the
//! wait is measured from the last line, not the first. The joined entry keeps the
//! first line's labels, timestamp and extracted map. Lines that arrive before any first
//! line form a block of their own (Promtail would send them with no labels at time 0).

use crate::config::{Fields, duration, go_regex};
use crate::stage::{Ctx, Item, Stage};
use serde_yaml_ng::Value;
use std::collections::BTreeMap;

#[derive(Debug)]
struct Block {
    first: Item,
    lines: usize,
    last_arrival_ns: i64,
}

#[derive(Debug)]
pub struct Multiline {
    firstline: regex::Regex,
    max_wait_ns: i64,
    max_lines: usize,
    blocks: BTreeMap<BTreeMap<String, String>, Block>,
}

impl Multiline {
    pub fn new(config: &Value) -> Result<Multiline, String> {
        let fields = Fields::new(config, &["firstline", "max_wait_time", "max_lines"])?;
        let firstline = go_regex("firstline", &fields.required_string("firstline")?)?;
        let max_wait_ns = match fields.string("max_wait_time")? {
            Some(text) => duration("max_wait_time", &text)?,
            None => 3_000_000_000,
        };
        let max_lines = match fields.u64("max_lines")? {
            None | Some(0) => 128,
            Some(n) => usize::try_from(n).map_err(|_| "max_lines: too large".to_string())?,
        };
        Ok(Multiline { firstline, max_wait_ns, max_lines, blocks: BTreeMap::new() })
    }
}

impl Stage for Multiline {
    fn process(&mut self, item: Item, ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        let is_first = self.firstline.is_match(&item.entry.line);
        let key = item.entry.labels.clone();
        if is_first && let Some(previous) = self.blocks.remove(&key) {
            out.push(previous.first);
        }
        let block = match self.blocks.get_mut(&key) {
            Some(block) => {
                block.first.entry.line.push('\n');
                block.first.entry.line.push_str(&item.entry.line);
                block.lines += 1;
                block.last_arrival_ns = ctx.now_ns;
                block
            }
            None => self.blocks.entry(key.clone()).or_insert(Block { first: item, lines: 1, last_arrival_ns: ctx.now_ns }),
        };
        if block.lines >= self.max_lines
            && let Some(full) = self.blocks.remove(&key)
        {
            out.push(full.first);
        }
    }

    fn flush(&mut self, ctx: &mut Ctx<'_>, all: bool, out: &mut Vec<Item>) {
        let max_wait_ns = self.max_wait_ns;
        let due: Vec<BTreeMap<String, String>> = self
            .blocks
            .iter()
            .filter(|(_, block)| all || ctx.now_ns.saturating_sub(block.last_arrival_ns) >= max_wait_ns)
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            if let Some(block) = self.blocks.remove(&key) {
                out.push(block.first);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stage::test_util::*;
    use crate::stage::{Ctx, Item, Stage};
    use crate::stage::{Drops, build};

    struct Harness {
        stage: Box<dyn Stage>,
        drops: Drops,
    }

    impl Harness {
        fn new(config: &str) -> Harness {
            Harness { stage: build("multiline", &yaml(config)).unwrap(), drops: Drops::new() }
        }

        fn push(&mut self, now_ns: i64, line: &str, stream: &str) -> Vec<String> {
            let mut e = entry(line);
            e.labels.insert("stream".into(), stream.into());
            e.timestamp_ns = now_ns;
            let mut out = Vec::new();
            self.stage.process(Item::new(e), &mut Ctx { now_ns, drops: &mut self.drops }, &mut out);
            out.into_iter().map(|i| i.entry.line).collect()
        }

        fn flush(&mut self, now_ns: i64, all: bool) -> Vec<Item> {
            let mut out = Vec::new();
            self.stage.flush(&mut Ctx { now_ns, drops: &mut self.drops }, all, &mut out);
            out
        }
    }

    #[test]
    fn docs_example_stack_traces() {
        let mut h = Harness::new(r"{firstline: '^\[\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}:\d{2}\]', max_wait_time: 3s}");
        assert!(h.push(1, "[2020-12-03 11:36:20] info: starting", "a").is_empty());
        assert!(h.push(2, "[2020-12-03 11:36:21] error: boom", "a").len() == 1);
        assert!(h.push(3, "Traceback (most recent call last):", "a").is_empty());
        assert!(h.push(4, "  File \"app.py\", line 1", "a").is_empty());
        let out = h.push(5, "[2020-12-03 11:36:22] info: recovered", "a");
        assert_eq!(out, vec!["[2020-12-03 11:36:21] error: boom\nTraceback (most recent call last):\n  File \"app.py\", line 1"]);
        let out = h.flush(i64::MAX, true);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].entry.line, "[2020-12-03 11:36:22] info: recovered");
        assert_eq!(out[0].entry.timestamp_ns, 5, "the first line's timestamp");
    }

    #[test]
    fn streams_are_separate_and_wait_is_from_the_last_line() {
        let sec = 1_000_000_000;
        let mut h = Harness::new("{firstline: '^START', max_wait_time: 3s}");
        h.push(0, "START a", "one");
        h.push(0, "START b", "two");
        h.push(2 * sec, "more a", "one");
        h.push(sec, "more b", "two");
        assert!(h.flush(4 * sec, false).len() == 1, "two is due (last line at 1s), one is not (2s)");
        let out = h.flush(5 * sec, false);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].entry.line, "START a\nmore a");
        assert_eq!(out[0].entry.labels.get("stream").map(String::as_str), Some("one"));
        assert!(h.flush(100 * sec, true).is_empty());
    }

    #[test]
    fn max_lines_releases_the_block() {
        let mut h = Harness::new("{firstline: '^START', max_lines: 3}");
        h.push(0, "START", "s");
        h.push(0, "1", "s");
        let out = h.push(0, "2", "s");
        assert_eq!(out, vec!["START\n1\n2"]);
        // lines before any first line still form a block
        h.push(0, "orphan", "s");
        let out = h.push(0, "START again", "s");
        assert_eq!(out, vec!["orphan"]);
    }

    #[test]
    fn config_errors() {
        assert!(build_err("multiline", "{max_lines: 3}").contains("firstline is required"));
        assert!(build_err("multiline", "{firstline: '['}").contains("firstline"));
        assert!(build_err("multiline", "{firstline: a, max_wait_time: 3}").contains("max_wait_time"));
        assert!(build_err("multiline", "{firstline: a, max_wait: 3s}").contains("\"max_wait\""));
    }
}
