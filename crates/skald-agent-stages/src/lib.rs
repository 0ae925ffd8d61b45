//! Promtail-compatible pipeline stages of the Skald agent.
//!
//! A scrape config's `pipeline_stages` (a YAML list of one-key maps, as in Promtail) is
//! compiled once by [`Pipeline::from_yaml`]; every line read by the agent then goes
//! through [`Pipeline::process`]. The crate is pure: no IO, no clock (the caller passes
//! `now_ns`), so every stage is unit-testable.
//!
//! Invariants: configuration errors name the stage and the key that was wrong; a stage
//! never panics on any line; stages that hold entries back (`multiline`) release them
//! through [`Pipeline::flush_due`] / [`Pipeline::flush_all`], so nothing is lost.

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
    stage_count: usize,
}

impl Pipeline {
    /// Compiles `pipeline_stages` (a YAML sequence; `Null` means no stages).
    pub fn from_yaml(stages: &serde_yaml_ng::Value) -> Result<Pipeline, ConfigError> {
        match stages {
            serde_yaml_ng::Value::Null => Ok(Pipeline::default()),
            serde_yaml_ng::Value::Sequence(items) if items.is_empty() => Ok(Pipeline::default()),
            _ => Err(ConfigError { index: 0, stage: "?".into(), message: "pipeline stages are not implemented yet".into() }),
        }
    }

    /// Runs one entry through the stages; whatever comes out (zero, one, or several
    /// entries released by a `multiline` stage) is appended to `out`.
    pub fn process(&mut self, entry: LogEntry, _now_ns: i64, out: &mut Vec<LogEntry>) {
        debug_assert_eq!(self.stage_count, 0);
        out.push(entry);
    }

    /// Releases entries held longer than their stage allows (`multiline.max_wait_time`).
    pub fn flush_due(&mut self, _now_ns: i64, _out: &mut Vec<LogEntry>) {}

    /// Releases every held entry (at shutdown, or when a file is let go).
    pub fn flush_all(&mut self, _out: &mut Vec<LogEntry>) {}
}
