//! `limit`: a token bucket per pipeline (or per value of `by_label_name`), refilled at
//! `rate` lines per second up to `burst`, driven by the caller's clock (`now_ns`).
//!
//! `drop: true` drops what is over the limit (counted with reason
//! `ratelimit_drop_stage`, as Promtail counts it). `drop: false` is Promtail's default and there it blocks the
//! reader until a token is free. A pure stage cannot block, so here the line is held in
//! a FIFO queue and released by [`Stage::flush`] (the agent's periodic `flush_due`) as
//! tokens come back: the same output rate, the same order, nothing lost, as long as at
//! most [`MAX_HELD`] lines wait; past that, lines are dropped and counted as
//! `ratelimit_drop_stage`, so memory stays bounded. `flush_all` (shutdown) releases
//! everything.
//!
//! With `by_label_name` (which, as in Promtail, requires `drop: true`), lines without
//! that label are not limited, and at most `max_distinct_labels` buckets are kept (raised
//! to Promtail's floor of 10000; the least recently used bucket goes first).

use super::{Ctx, Item, Stage};
use crate::config::Fields;
use serde_yaml_ng::Value;
use std::collections::{HashMap, VecDeque};

/// Lines a `drop: false` limit may hold back, over all its buckets.
pub const MAX_HELD: usize = 10_000;

const DROP_REASON: &str = "ratelimit_drop_stage";

/// Promtail raises a smaller `max_distinct_labels` to this.
const MIN_DISTINCT_LABELS: u64 = 10_000;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last_refill_ns: i64,
    last_used_ns: i64,
    queue: VecDeque<Item>,
}

impl Bucket {
    fn new(burst: f64, now_ns: i64) -> Bucket {
        Bucket { tokens: burst, last_refill_ns: now_ns, last_used_ns: now_ns, queue: VecDeque::new() }
    }

    fn take(&mut self, rate: f64, burst: f64, now_ns: i64) -> bool {
        if now_ns > self.last_refill_ns {
            let elapsed_secs = now_ns.saturating_sub(self.last_refill_ns) as f64 / 1e9;
            self.tokens = (self.tokens + elapsed_secs * rate).min(burst);
            self.last_refill_ns = now_ns;
        }
        self.last_used_ns = now_ns;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
pub struct Limit {
    rate: f64,
    burst: f64,
    drop: bool,
    by_label_name: Option<String>,
    max_distinct_labels: usize,
    buckets: HashMap<String, Bucket>,
    held: usize,
}

impl Limit {
    pub fn new(config: &Value) -> Result<Limit, String> {
        let fields = Fields::new(config, &["rate", "burst", "drop", "by_label_name", "max_distinct_labels"])?;
        let rate = fields.f64("rate")?.ok_or("rate is required")?;
        if !(rate > 0.0 && rate.is_finite()) {
            return Err(format!("rate must be a positive number, got {rate}"));
        }
        let burst = fields.u64("burst")?.ok_or("burst is required")?;
        if burst == 0 {
            return Err("burst must be at least 1".into());
        }
        let max_distinct_labels = fields.u64("max_distinct_labels")?.unwrap_or(MIN_DISTINCT_LABELS).max(MIN_DISTINCT_LABELS);
        let drop = fields.bool("drop")?.unwrap_or(false);
        let by_label_name = fields.string("by_label_name")?.filter(|s| !s.is_empty());
        if by_label_name.is_some() && !drop {
            return Err("by_label_name needs drop: true (as in Promtail)".into());
        }
        Ok(Limit {
            rate,
            burst: burst as f64,
            drop,
            by_label_name,
            max_distinct_labels: usize::try_from(max_distinct_labels).unwrap_or(usize::MAX),
            buckets: HashMap::new(),
            held: 0,
        })
    }

    /// Makes room for one more bucket by evicting the least recently used idle one.
    fn evict_if_full(&mut self) {
        if self.buckets.len() < self.max_distinct_labels {
            return;
        }
        let mut oldest: Option<(&String, i64)> = None;
        for (key, bucket) in &self.buckets {
            if bucket.queue.is_empty() && oldest.is_none_or(|(_, t)| bucket.last_used_ns < t) {
                oldest = Some((key, bucket.last_used_ns));
            }
        }
        if let Some((key, _)) = oldest {
            let key = key.clone();
            self.buckets.remove(&key);
        }
    }
}

impl Stage for Limit {
    fn process(&mut self, item: Item, ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        let key = match &self.by_label_name {
            None => String::new(),
            Some(name) => match item.entry.labels.get(name) {
                Some(value) => value.clone(),
                None => {
                    out.push(item);
                    return;
                }
            },
        };
        if !self.buckets.contains_key(&key) {
            self.evict_if_full();
        }
        let (rate, burst) = (self.rate, self.burst);
        let bucket = self.buckets.entry(key).or_insert_with(|| Bucket::new(burst, ctx.now_ns));
        if bucket.queue.is_empty() && bucket.take(rate, burst, ctx.now_ns) {
            out.push(item);
        } else if !self.drop && self.held < MAX_HELD {
            bucket.queue.push_back(item);
            self.held += 1;
        } else {
            ctx.count_drop(DROP_REASON);
        }
    }

    fn flush(&mut self, ctx: &mut Ctx<'_>, all: bool, out: &mut Vec<Item>) {
        if self.held == 0 {
            return;
        }
        let (rate, burst) = (self.rate, self.burst);
        for bucket in self.buckets.values_mut() {
            while !bucket.queue.is_empty() && (all || bucket.take(rate, burst, ctx.now_ns)) {
                if let Some(item) = bucket.queue.pop_front() {
                    self.held -= 1;
                    out.push(item);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{Drops, build};
    use super::*;

    const SEC: i64 = 1_000_000_000;

    fn feed(stage: &mut Box<dyn Stage>, drops: &mut Drops, now_ns: i64, lines: &[(&str, Option<&str>)]) -> Vec<String> {
        let mut ctx = Ctx { now_ns, drops };
        let mut out = Vec::new();
        for (line, app) in lines {
            let mut e = entry(line);
            if let Some(app) = app {
                e.labels.insert("app".into(), app.to_string());
            }
            stage.process(Item::new(e), &mut ctx, &mut out);
        }
        out.into_iter().map(|i| i.entry.line).collect()
    }

    #[test]
    fn drop_over_the_rate() {
        let mut stage = build("limit", &yaml("{rate: 1, burst: 2, drop: true}")).unwrap();
        let mut drops = Drops::new();
        let passed = feed(&mut stage, &mut drops, 0, &[("a", None), ("b", None), ("c", None), ("d", None)]);
        assert_eq!(passed, vec!["a", "b"]);
        assert_eq!(drops.get("ratelimit_drop_stage"), Some(&2));
        // one second later one token is back
        let passed = feed(&mut stage, &mut drops, SEC, &[("e", None), ("f", None)]);
        assert_eq!(passed, vec!["e"]);
        // a long pause refills at most `burst`
        let passed = feed(&mut stage, &mut drops, 100 * SEC, &[("g", None), ("h", None), ("i", None)]);
        assert_eq!(passed, vec!["g", "h"]);
    }

    #[test]
    fn by_label_name_buckets() {
        let mut limit = Limit::new(&yaml("{rate: 1, burst: 1, drop: true, by_label_name: app, max_distinct_labels: 2}")).unwrap();
        assert_eq!(limit.max_distinct_labels, 10_000, "raised to Promtail's floor");
        limit.max_distinct_labels = 2;
        let mut stage: Box<dyn Stage> = Box::new(limit);
        let mut drops = Drops::new();
        let lines = [("a1", Some("a")), ("a2", Some("a")), ("x", None), ("y", None)];
        assert_eq!(feed(&mut stage, &mut drops, 0, &lines), vec!["a1", "x", "y"]);
        assert_eq!(feed(&mut stage, &mut drops, 1, &[("b1", Some("b")), ("b2", Some("b"))]), vec!["b1"]);
        // a third label value evicts the least recently used bucket (a), which restarts full
        assert_eq!(feed(&mut stage, &mut drops, 2, &[("c1", Some("c")), ("a3", Some("a"))]), vec!["c1", "a3"]);
    }

    #[test]
    fn hold_when_drop_is_false() {
        let mut stage = build("limit", &yaml("{rate: 2, burst: 1}")).unwrap();
        let mut drops = Drops::new();
        assert_eq!(feed(&mut stage, &mut drops, 0, &[("a", None), ("b", None), ("c", None)]), vec!["a"]);
        assert!(drops.is_empty());
        let mut ctx = Ctx { now_ns: SEC / 2, drops: &mut drops };
        let mut out = Vec::new();
        stage.flush(&mut ctx, false, &mut out);
        assert_eq!(out.iter().map(|i| i.entry.line.as_str()).collect::<Vec<_>>(), vec!["b"]);
        // a new line waits behind the queue, keeping the order
        assert!(feed(&mut stage, &mut drops, SEC / 2, &[("d", None)]).is_empty());
        let mut ctx = Ctx { now_ns: 10 * SEC, drops: &mut drops };
        let mut out = Vec::new();
        stage.flush(&mut ctx, false, &mut out);
        assert_eq!(out.iter().map(|i| i.entry.line.as_str()).collect::<Vec<_>>(), vec!["c"]);
        stage.flush(&mut ctx, true, &mut out);
        assert_eq!(out.iter().map(|i| i.entry.line.as_str()).collect::<Vec<_>>(), vec!["c", "d"]);
    }

    #[test]
    fn config_errors() {
        assert!(build_err("limit", "{burst: 1}").contains("rate is required"));
        assert!(build_err("limit", "{rate: 1}").contains("burst is required"));
        assert!(build_err("limit", "{rate: 0, burst: 1}").contains("rate must be a positive"));
        assert!(build_err("limit", "{rate: 1, burst: 0}").contains("burst must be at least 1"));
        assert!(build_err("limit", "{rate: 1, burst: 1, by_label: app}").contains("\"by_label\""));
        assert!(build_err("limit", "{rate: 1, burst: 1, by_label_name: app}").contains("drop: true"));
    }
}
