//! Log patterns (`/patterns`), in the manner of Loki's pattern ingester (`pkg/pattern`,
//! a Drain clustering of each stream's lines per level), computed at query time from
//! the lines in the range rather than kept by a separate ingester.
//!
//! The miner ([`PatternMiner`]) is a simple, deterministic Drain:
//! - a line is split into tokens at single spaces (so a pattern joined with spaces
//!   matches the lines it came from);
//! - lines are grouped by token count and first token (`<_>` when it holds a digit);
//! - within a group a line joins the most similar cluster (share of positions with the
//!   same token) when that share is at least [`SIMILARITY`], and every position where
//!   the two differ becomes `<_>`; otherwise it starts a new cluster;
//! - each cluster counts its lines per step bucket.
//!
//! Each stream's lines (newest first, at most [`MAX_LINES_PER_STREAM`]) pass the query's
//! pipeline, are split by level (`detected_level`/`level` structured metadata or stream
//! label, else a level read from the line, else `unknown`) and mined; equal patterns
//! of the same level are then summed across streams.

use crate::querier::{Querier, QueryError};
use skald_common::Label;
use skald_logql::engine::{ScanRequest, StreamSource, required_literals};
use skald_logql::pipeline::Pipeline;
use skald_logql::{Expr, parse_expr};
use std::collections::{BTreeMap, HashMap};

/// The placeholder of a varying token.
pub const PLACEHOLDER: &str = "<_>";
/// Least share of equal tokens for a line to join a cluster (Loki's Drain default).
pub const SIMILARITY: f64 = 0.3;
/// Lines longer than this (bytes) or with more tokens are not mined (as Loki's limits).
const MAX_LINE_LENGTH: usize = 3000;
const MAX_TOKENS: usize = 80;
/// Clusters per stream and level; lines that would start another are dropped.
const MAX_CLUSTERS: usize = 300;
/// Lines read per stream (the newest).
pub const MAX_LINES_PER_STREAM: usize = 50_000;
/// Patterns returned at most.
const MAX_PATTERNS: usize = 1000;

struct Cluster {
    tokens: Vec<String>,
    /// Bucket start (ns) -> lines.
    samples: BTreeMap<i64, u64>,
}

/// A Drain-like miner over the lines of one stream and level.
#[derive(Default)]
pub struct PatternMiner {
    clusters: Vec<Cluster>,
    groups: HashMap<(usize, String), Vec<usize>>,
}

fn has_digit(token: &str) -> bool {
    token.bytes().any(|c| c.is_ascii_digit())
}

impl PatternMiner {
    pub fn new() -> PatternMiner {
        PatternMiner::default()
    }

    /// Adds a line seen in `bucket`; false when the line was not mined.
    pub fn train(&mut self, line: &str, bucket: i64) -> bool {
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() || line.len() > MAX_LINE_LENGTH {
            return false;
        }
        let tokens: Vec<&str> = line.split(' ').collect();
        if tokens.len() > MAX_TOKENS {
            return false;
        }
        let first = if has_digit(tokens[0]) { PLACEHOLDER } else { tokens[0] };
        let key = (tokens.len(), first.to_string());
        let candidates = self.groups.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        let mut best: Option<(usize, f64)> = None;
        for &index in candidates {
            let cluster = &self.clusters[index].tokens;
            let equal = cluster.iter().zip(&tokens).filter(|(c, t)| c.as_str() != PLACEHOLDER && c == *t).count();
            let similarity = equal as f64 / tokens.len() as f64;
            if best.is_none_or(|(_, s)| similarity > s) {
                best = Some((index, similarity));
            }
        }
        let index = match best {
            Some((index, similarity)) if similarity >= SIMILARITY || (tokens.len() == 1 && first == PLACEHOLDER) => {
                for (c, t) in self.clusters[index].tokens.iter_mut().zip(&tokens) {
                    if c != t {
                        *c = PLACEHOLDER.to_string();
                    }
                }
                index
            }
            _ => {
                if self.clusters.len() >= MAX_CLUSTERS {
                    return false;
                }
                self.clusters.push(Cluster { tokens: tokens.iter().map(|t| t.to_string()).collect(), samples: BTreeMap::new() });
                self.groups.entry(key).or_default().push(self.clusters.len() - 1);
                self.clusters.len() - 1
            }
        };
        *self.clusters[index].samples.entry(bucket).or_default() += 1;
        true
    }

    /// `(pattern, bucket -> count)` of every cluster with at least one literal token.
    pub fn patterns(&self) -> impl Iterator<Item = (String, &BTreeMap<i64, u64>)> {
        self.clusters
            .iter()
            .filter(|c| c.tokens.iter().any(|t| !t.is_empty() && t != PLACEHOLDER))
            .map(|c| (c.tokens.join(" "), &c.samples))
    }
}

/// Loki's level names for a level string, if it is one.
fn normalize_level(value: &str) -> Option<&'static str> {
    Some(match value.to_ascii_lowercase().as_str() {
        "critical" | "crit" | "fatal" | "panic" | "emerg" | "emergency" | "alert" => "critical",
        "error" | "err" | "eror" | "e" => "error",
        "warn" | "warning" | "wrn" | "w" => "warn",
        "info" | "information" | "informational" | "inf" | "notice" | "i" => "info",
        "debug" | "dbg" | "d" => "debug",
        "trace" | "trc" | "t" => "trace",
        _ => return None,
    })
}

/// The level of a line: `level=`/`"level":` style fields, else a level word.
pub fn level_from_line(line: &str) -> &'static str {
    for key in ["level", "lvl", "severity", "loglevel"] {
        for prefix in [format!("{key}="), format!("\"{key}\":\""), format!("\"{key}\": \"")] {
            if let Some(at) = line.find(&prefix) {
                let rest = line[at + prefix.len()..].trim_start_matches('"');
                let value: String = rest.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
                if let Some(level) = normalize_level(&value) {
                    return level;
                }
            }
        }
    }
    for word in line.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| w.len() >= 4 && w.len() <= 8) {
        if word.bytes().all(|c| c.is_ascii_uppercase())
            && let Some(level) = normalize_level(word)
        {
            return level;
        }
    }
    "unknown"
}

/// The level of an entry: metadata or stream label first, then the line.
fn entry_level(line: &str, metadata: &[Label], stream: &skald_common::LabelSet) -> String {
    for name in ["detected_level", "level"] {
        if let Some(l) = metadata.iter().find(|l| l.name == name) {
            return l.value.clone();
        }
        if let Some(v) = stream.get(name) {
            return v.to_string();
        }
    }
    level_from_line(line).to_string()
}

/// One pattern of the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternSeries {
    pub pattern: String,
    pub level: String,
    /// `(unix seconds, lines)` in time order.
    pub samples: Vec<(i64, i64)>,
}

#[derive(Debug, Clone)]
pub struct PatternsRequest {
    pub query: String,
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

/// Sums equal `(pattern, level)` across miners; sorted by total lines, descending.
pub fn merge_patterns<'a>(miners: impl IntoIterator<Item = (&'a str, &'a PatternMiner)>) -> Vec<PatternSeries> {
    let mut merged: BTreeMap<(String, String), BTreeMap<i64, u64>> = BTreeMap::new();
    for (level, miner) in miners {
        for (pattern, samples) in miner.patterns() {
            let into = merged.entry((pattern, level.to_string())).or_default();
            for (bucket, count) in samples {
                *into.entry(*bucket).or_default() += count;
            }
        }
    }
    let mut out: Vec<(u64, PatternSeries)> = merged
        .into_iter()
        .map(|((pattern, level), samples)| {
            let total = samples.values().sum();
            let samples = samples.into_iter().map(|(b, c)| (b.div_euclid(1_000_000_000), c as i64)).collect();
            (total, PatternSeries { pattern, level, samples })
        })
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.pattern.cmp(&b.1.pattern)).then_with(|| a.1.level.cmp(&b.1.level)));
    out.into_iter().take(MAX_PATTERNS).map(|(_, p)| p).collect()
}

impl Querier {
    /// Patterns of the lines matching a log query in `[start, end]`, counted per step.
    pub async fn patterns(&self, tenant: &str, request: PatternsRequest) -> Result<Vec<PatternSeries>, QueryError> {
        let Expr::Log(log) = parse_expr(&request.query)? else {
            return Err(QueryError::BadRequest("only log queries are supported: the query must be a log selector".into()));
        };
        let pipeline = Pipeline::new(&log.pipeline).map_err(|e| QueryError::BadRequest(e.0))?;
        let literals = required_literals(&log.pipeline);
        let (start, through, step) = (request.start, request.end.saturating_add(1), request.step.max(1));
        self.with_source(tenant, move |source| {
            let streams = source.select(&log.matchers, start, through)?;
            let scan = ScanRequest { from: start, through, reverse: true, need_lines: true, required_literals: &literals };
            let mut all: Vec<(String, PatternMiner)> = Vec::new();
            for stream in streams {
                let mut processor = pipeline.for_stream(&stream.labels);
                let mut miners: BTreeMap<String, PatternMiner> = BTreeMap::new();
                let mut read = 0usize;
                stream.data.scan(&scan, &mut |entry| {
                    read += 1;
                    if let Some(processed) = processor.process(entry.ts, entry.line, entry.metadata) {
                        let level = entry_level(processed.line, &processed.labels.structured_metadata, &processed.labels.stream);
                        let bucket = entry.ts - entry.ts.rem_euclid(step);
                        miners.entry(level).or_default().train(processed.line, bucket);
                    }
                    read < MAX_LINES_PER_STREAM
                })?;
                all.extend(miners);
            }
            Ok(merge_patterns(all.iter().map(|(level, miner)| (level.as_str(), miner))))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn mine(lines: &[(&str, i64)]) -> Vec<PatternSeries> {
        let mut miner = PatternMiner::new();
        for (line, bucket) in lines {
            miner.train(line, *bucket);
        }
        merge_patterns([("info", &miner)])
    }

    #[test]
    fn varying_tokens_become_placeholders() {
        let got = mine(&[
            ("user alice logged in from 10.0.0.1", 0),
            ("user bob logged in from 10.0.0.2", 60 * S),
            ("user carol logged in from 10.0.0.3", 60 * S),
            ("GET /api/items 200 15ms", 0),
            ("GET /api/users 200 9ms", 0),
            ("disk full", 120 * S),
        ]);
        let patterns: Vec<&str> = got.iter().map(|p| p.pattern.as_str()).collect();
        assert_eq!(patterns, vec!["user <_> logged in from <_>", "GET <_> 200 <_>", "disk full"]);
        assert_eq!(got[0].samples, vec![(0, 1), (60, 2)]);
        assert_eq!(got[0].level, "info");
        assert_eq!(got[2].samples, vec![(120, 1)]);
    }

    #[test]
    fn different_shapes_stay_apart_and_mining_is_deterministic() {
        let lines = [("connection reset by peer", 0), ("connection established to db", 0), ("cache miss for key k1", 0)];
        let first = mine(&lines);
        assert_eq!(first, mine(&lines));
        // Same length and first token, 1 of 4 tokens equal (< 0.3 would need 2): the two
        // connection lines differ in 3 of 4 positions -> 0.25 < 0.3, separate clusters.
        let patterns: Vec<&str> = first.iter().map(|p| p.pattern.as_str()).collect();
        assert_eq!(patterns, vec!["cache miss for key k1", "connection established to db", "connection reset by peer"]);
        // Lines that are all placeholders are not reported.
        assert!(mine(&[("12345", 0), ("67890", 0)]).is_empty());
    }

    #[test]
    fn levels_from_lines() {
        assert_eq!(level_from_line("level=error msg=boom"), "error");
        assert_eq!(level_from_line(r#"{"level":"WARN","msg":"x"}"#), "warn");
        assert_eq!(level_from_line("2024-01-01 INFO started"), "info");
        assert_eq!(level_from_line("just a line"), "unknown");
    }

    #[test]
    fn equal_patterns_of_one_level_are_summed_across_miners() {
        let mut a = PatternMiner::new();
        let mut b = PatternMiner::new();
        a.train("job 1 done", 0);
        a.train("job 5 done", 0);
        b.train("job 2 done", 0);
        b.train("job 3 done", 10 * S);
        let got = merge_patterns([("info", &a), ("info", &b), ("error", &b)]);
        assert_eq!(got[0], PatternSeries { pattern: "job <_> done".into(), level: "info".into(), samples: vec![(0, 3), (10, 1)] });
        assert_eq!(got[1], PatternSeries { pattern: "job <_> done".into(), level: "error".into(), samples: vec![(0, 1), (10, 1)] });
        assert_eq!(got.len(), 2);
    }
}
