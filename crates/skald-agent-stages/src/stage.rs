//! The stage abstraction, the list of stages, and the table from stage name to builder.
//!
//! A stage takes one [`Item`] (the entry plus its extracted map) and pushes zero or more
//! items out. Most stages push exactly the item they got; filters push nothing, and
//! stages that hold entries back (`multiline`, `cri` partial lines, a `limit` that
//! queues) push later, from [`Stage::flush`]. [`Stages`] chains them: what a stage
//! releases from `flush` continues through the stages after it, as in Promtail's channel
//! pipeline.

pub mod container;
pub mod filter;
pub mod go_template;
pub mod json_path;
pub mod labels;
pub mod limit;
pub mod parse;
pub mod timestamp;
pub mod transform;

use crate::config::describe;
use crate::{ConfigError, LogEntry};
use serde_yaml_ng::Value;
use std::collections::BTreeMap;

/// The extracted map: values parsed out of the line by earlier stages. `None` is a JSON
/// `null` (present but not convertible to a string, as in Promtail).
pub type Extracted = BTreeMap<String, Option<String>>;

/// One entry in flight, with its extracted map.
#[derive(Debug, Clone)]
pub struct Item {
    pub entry: LogEntry,
    pub extracted: Extracted,
}

impl Item {
    /// A fresh item: the extracted map starts with the entry's labels (so `filename` or
    /// a target label can be used as a `source`), as Promtail does.
    pub fn new(entry: LogEntry) -> Item {
        let mut extracted = Extracted::new();
        for (name, value) in &entry.labels {
            extracted.insert(name.clone(), Some(value.clone()));
        }
        Item { entry, extracted }
    }

    /// The string value of an extracted key (`None` when absent or null).
    pub fn value(&self, key: &str) -> Option<&str> {
        self.extracted.get(key).and_then(|v| v.as_deref())
    }

    /// The text a parsing stage reads: the extracted `source` value when one is
    /// configured (`None` if it is missing or null: the stage does nothing), else the line.
    pub fn input(&self, source: Option<&str>) -> Option<String> {
        match source {
            Some(key) => self.value(key).map(str::to_string),
            None => Some(self.entry.line.clone()),
        }
    }
}

/// Drop counters by reason, shared by every stage of a pipeline.
pub type Drops = BTreeMap<String, u64>;

/// What every stage gets besides the item.
pub struct Ctx<'a> {
    /// The caller's clock, nanoseconds since the epoch.
    pub now_ns: i64,
    pub drops: &'a mut Drops,
}

impl Ctx<'_> {
    pub fn count_drop(&mut self, reason: &str) {
        *self.drops.entry(reason.to_string()).or_insert(0) += 1;
    }
}

/// One compiled stage.
pub trait Stage: Send + std::fmt::Debug {
    /// Processes one item; whatever comes out is pushed to `out`.
    fn process(&mut self, item: Item, ctx: &mut Ctx<'_>, out: &mut Vec<Item>);

    /// Releases held items: those that are due at `ctx.now_ns`, or all of them when
    /// `all` is set.
    fn flush(&mut self, _ctx: &mut Ctx<'_>, _all: bool, _out: &mut Vec<Item>) {}
}

/// A chain of stages (the top-level pipeline, the body of a `match`, the fixed stages of
/// `docker` and `cri`).
#[derive(Debug, Default)]
pub struct Stages {
    stages: Vec<Box<dyn Stage>>,
}

impl Stages {
    pub fn new(stages: Vec<Box<dyn Stage>>) -> Stages {
        Stages { stages }
    }

    pub fn len(&self) -> usize {
        self.stages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Runs `items` through the stages from index `start` on.
    fn run_from(&mut self, start: usize, items: Vec<Item>, ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        let mut current = items;
        for stage in self.stages.iter_mut().skip(start) {
            if current.is_empty() {
                return;
            }
            let mut next = Vec::with_capacity(current.len());
            for item in current {
                stage.process(item, ctx, &mut next);
            }
            current = next;
        }
        out.extend(current);
    }
}

impl Stage for Stages {
    fn process(&mut self, item: Item, ctx: &mut Ctx<'_>, out: &mut Vec<Item>) {
        self.run_from(0, vec![item], ctx, out);
    }

    fn flush(&mut self, ctx: &mut Ctx<'_>, all: bool, out: &mut Vec<Item>) {
        for index in 0..self.stages.len() {
            let mut released = Vec::new();
            self.stages[index].flush(ctx, all, &mut released);
            if !released.is_empty() {
                self.run_from(index + 1, released, ctx, out);
            }
        }
    }
}

/// Stages Promtail has that Skald refuses by name.
const UNSUPPORTED: &[&str] = &["metrics", "pack", "geoip", "sampling", "eventlogmessage", "docker_recombine", "logfmt_encode"];

/// Compiles a YAML list of one-key maps into stages (`match` turns the error of a
/// nested list into its own message, `stages[1] (regex): ...`).
pub fn build_list(value: &Value) -> Result<Stages, ConfigError> {
    let items = match value {
        Value::Null => return Ok(Stages::default()),
        Value::Sequence(items) => items,
        other => {
            return Err(ConfigError {
                index: 0,
                stage: "pipeline_stages".into(),
                message: format!("expected a list of stages, got {}", describe(other)),
            });
        }
    };
    let mut stages = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let (name, config) = one_key(item).map_err(|message| ConfigError { index, stage: "?".into(), message })?;
        let stage = build(&name, config).map_err(|message| ConfigError { index, stage: name.clone(), message })?;
        stages.push(stage);
    }
    Ok(Stages::new(stages))
}

/// A stage entry is a mapping with exactly one key, the stage name.
fn one_key(item: &Value) -> Result<(String, &Value), String> {
    let Value::Mapping(map) = item else {
        return Err(format!("a stage must be a mapping with one key (the stage name), got {}", describe(item)));
    };
    if map.len() != 1 {
        let keys: Vec<String> = map.keys().map(describe).collect();
        return Err(format!("a stage must have exactly one key (the stage name), got {}: {}", map.len(), keys.join(", ")));
    }
    let Some((key, config)) = map.iter().next() else {
        return Err("empty stage".into());
    };
    let Some(name) = key.as_str() else {
        return Err(format!("a stage name must be a string, got {}", describe(key)));
    };
    Ok((name.to_string(), config))
}

/// Builds one stage from its name and configuration.
pub fn build(name: &str, config: &Value) -> Result<Box<dyn Stage>, String> {
    let stage: Box<dyn Stage> = match name {
        "regex" => Box::new(parse::Regex::new(config)?),
        "json" => Box::new(parse::Json::new(config)?),
        "logfmt" => Box::new(parse::Logfmt::new(config)?),
        "docker" => Box::new(container::docker(config)?),
        "cri" => Box::new(container::Cri::new(config)?),
        "template" => Box::new(transform::Template::new(config)?),
        "replace" => Box::new(transform::Replace::new(config)?),
        "decolorize" => Box::new(transform::Decolorize::new(config)?),
        "timestamp" => Box::new(timestamp::Timestamp::new(config)?),
        "output" => Box::new(labels::Output::new(config)?),
        "labels" => Box::new(labels::Labels::new(config)?),
        "static_labels" => Box::new(labels::StaticLabels::new(config)?),
        "labeldrop" => Box::new(labels::LabelDrop::new(config)?),
        "labelallow" => Box::new(labels::LabelAllow::new(config)?),
        "structured_metadata" => Box::new(labels::StructuredMetadata::new(config)?),
        "tenant" => Box::new(labels::Tenant::new(config)?),
        "limit" => Box::new(limit::Limit::new(config)?),
        "match" => Box::new(filter::Match::new(config)?),
        "drop" => Box::new(filter::Drop::new(config)?),
        "multiline" => Box::new(crate::multiline::Multiline::new(config)?),
        other if UNSUPPORTED.contains(&other) => return Err(format!("stage {other} is not supported")),
        other => return Err(format!("unknown stage {other:?}")),
    };
    Ok(stage)
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Helpers for the stage unit tests.
    use super::*;

    pub fn yaml(s: &str) -> Value {
        serde_yaml_ng::from_str(s).expect("test yaml")
    }

    pub fn entry(line: &str) -> LogEntry {
        LogEntry {
            labels: BTreeMap::from([("job".to_string(), "test".to_string())]),
            line: line.to_string(),
            timestamp_ns: 1_000,
            structured_metadata: Vec::new(),
            tenant: None,
        }
    }

    /// Builds a one-stage chain from `name: <config>` and runs an item through it.
    pub fn run_one(name: &str, config: &str, item: Item) -> Vec<Item> {
        let mut stage = build(name, &yaml(config)).expect("stage config");
        let mut drops = Drops::new();
        let mut ctx = Ctx { now_ns: 2_000_000_000_000_000_000, drops: &mut drops };
        let mut out = Vec::new();
        stage.process(item, &mut ctx, &mut out);
        out
    }

    pub fn build_err(name: &str, config: &str) -> String {
        match build(name, &yaml(config)) {
            Ok(stage) => panic!("expected an error for {name}: {config}, got {stage:?}"),
            Err(e) => e,
        }
    }
}
