//! Promtail-compatible pipeline stages of the Skald agent.
//!
//! A scrape config's `pipeline_stages` (a YAML list of one-key maps, as in Promtail) is
//! compiled once by [`Pipeline::from_yaml`]; every line read by the agent then goes
//! through [`Pipeline::process`]. The crate is pure: no IO, no clock (the caller passes
//! `now_ns`), so every stage is unit-testable.
//!
//! Invariants: configuration errors name the stage and the key that was wrong; a stage
//! never panics on any line; stages that hold entries back (`multiline`, `cri` partial
//! lines, a `limit` with `drop: false`) release them through [`Pipeline::flush_due`] /
//! [`Pipeline::flush_all`], so nothing is lost; every entry a stage drops is counted by
//! reason ([`Pipeline::take_dropped`]).
//!
//! Layout: [`stage`] holds the stage trait, the name -> builder table and one module per
//! stage family (`parse`, `container`, `transform`, `labels`, `timestamp`, `limit`,
//! `filter`); [`multiline`] the multiline stage; [`go_time`] Go time layouts; `config`
//! the strict reading of each stage's YAML.
//!
//! Semantics follow Promtail's stages; where this crate differs on purpose the module
//! doc of the stage says so. Stages Promtail has but Skald does not (`metrics`, `pack`,
//! `geoip`, `sampling`, `eventlogmessage`, ...) are refused by name.
//!
//! The caller must call [`Pipeline::flush_due`] periodically (every few hundred
//! milliseconds) for `multiline.max_wait_time` and a queueing `limit` to take effect.

mod config;
pub mod go_time;
pub mod multiline;
pub mod stage;

use stage::{Ctx, Drops, Item, Stage, Stages};
use std::collections::BTreeMap;

/// One log entry as it moves through the stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Stream labels (the `filename`, target labels, labels added by stages).
    pub labels: BTreeMap<String, String>,
    pub line: String,
    /// Nanoseconds since the Unix epoch (the read time until a `timestamp` stage sets it).
    pub timestamp_ns: i64,
    /// Structured metadata, in the order stages added it.
    pub structured_metadata: Vec<(String, String)>,
    /// Tenant chosen by a `tenant` stage; `None` means the client's `tenant_id`.
    pub tenant: Option<String>,
}

/// A configuration error, naming the stage and what was wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("pipeline_stages[{index}] ({stage}): {message}")]
pub struct ConfigError {
    pub index: usize,
    pub stage: String,
    pub message: String,
}

/// A compiled list of stages.
#[derive(Debug, Default)]
pub struct Pipeline {
    stages: Stages,
    drops: Drops,
    /// The latest clock reading seen, for `flush_all` (which has none).
    last_now_ns: i64,
}

impl Pipeline {
    /// Compiles `pipeline_stages` (a YAML sequence; `Null` means no stages).
    pub fn from_yaml(stages: &serde_yaml_ng::Value) -> Result<Pipeline, ConfigError> {
        Ok(Pipeline { stages: stage::build_list(stages)?, drops: Drops::new(), last_now_ns: 0 })
    }

    /// The number of top-level stages.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    fn collect(items: Vec<Item>, out: &mut Vec<LogEntry>) {
        out.extend(items.into_iter().map(|item| item.entry));
    }

    /// Runs one entry through the stages; whatever comes out (zero, one, or several
    /// entries released by a `multiline` stage) is appended to `out`.
    pub fn process(&mut self, entry: LogEntry, now_ns: i64, out: &mut Vec<LogEntry>) {
        if self.stages.is_empty() {
            out.push(entry);
            return;
        }
        self.last_now_ns = self.last_now_ns.max(now_ns);
        let mut items = Vec::with_capacity(1);
        let mut ctx = Ctx { now_ns, drops: &mut self.drops };
        self.stages.process(Item::new(entry), &mut ctx, &mut items);
        Self::collect(items, out);
    }

    /// Releases entries held longer than their stage allows (`multiline.max_wait_time`,
    /// a `limit` queue whose tokens came back).
    pub fn flush_due(&mut self, now_ns: i64, out: &mut Vec<LogEntry>) {
        self.last_now_ns = self.last_now_ns.max(now_ns);
        let mut items = Vec::new();
        let mut ctx = Ctx { now_ns, drops: &mut self.drops };
        self.stages.flush(&mut ctx, false, &mut items);
        Self::collect(items, out);
    }

    /// Releases every held entry (at shutdown, or when a file is let go).
    pub fn flush_all(&mut self, out: &mut Vec<LogEntry>) {
        let mut items = Vec::new();
        let mut ctx = Ctx { now_ns: self.last_now_ns, drops: &mut self.drops };
        self.stages.flush(&mut ctx, true, &mut items);
        Self::collect(items, out);
    }

    /// The entries dropped since the last call, by reason (`drop_stage`, `match_stage`,
    /// `ratelimit_drop_stage`, `malformed_json` or a configured `drop_counter_reason`), sorted by
    /// reason. The agent adds them to its dropped-lines counter.
    pub fn take_dropped(&mut self) -> Vec<(String, u64)> {
        std::mem::take(&mut self.drops).into_iter().collect()
    }
}

#[cfg(test)]
mod tests;
