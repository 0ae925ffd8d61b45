//! Compiled log pipelines: what happens to each entry of a stream after the selector.
//!
//! The engine depends on exactly this API:
//!
//! - `Pipeline::new(&[Stage]) -> Result<Pipeline, PipelineError>` compiles the stages
//!   once per query (regexes, templates, IP ranges, JSON paths).
//! - `Pipeline::line_filter_only() -> bool` is true when every stage is a line filter; then
//!   `Pipeline::matches_line(&[u8]) -> bool` tests raw bytes with no allocation (the
//!   scan fast path, used without ever building labels).
//! - `Pipeline::for_stream(&LabelSet) -> StreamPipeline` makes the per-stream state.
//! - `StreamPipeline::process(&mut self, ts, line, metadata) -> Option<Processed<'_>>`:
//!   `None` when a filter drops the entry, else the (possibly rewritten) line and the
//!   categorised labels (stream labels, structured metadata, parsed labels; `__error__`
//!   and `__error_details__` are parsed labels).
//! - `SampleExtractor::new(&RangeAggregation) -> Result<SampleExtractor, PipelineError>`
//!   and `SampleExtractor::for_stream(&LabelSet) -> StreamSampleExtractor` whose
//!   `process(ts, line, metadata) -> Option<(f64, &LabelSet)>` gives the sample value
//!   (1 for counts, line length in bytes for bytes_*, the unwrapped value otherwise)
//!   and the sample's full label set (stream + metadata + parsed, after the grouping
//!   of the range aggregation has NOT been applied).

#[cfg(test)]
mod conformance;
mod extract;
pub(crate) mod goregex;
pub(crate) mod goregex_syntax;
mod hints;
mod ip;
mod json;
mod label_filter;
pub(crate) mod labels;
mod line_filter;
mod logfmt;
mod pattern;
mod stage;
mod stream;
mod template;
#[cfg(test)]
mod tests;

pub use extract::{SampleExtractor, StreamSampleExtractor};
pub use label_filter::{parse_go_duration, parse_go_float, parse_humanize_bytes};
pub use labels::{ERROR_DETAILS_LABEL, ERROR_LABEL};
pub use stream::StreamPipeline;
/// Go-template functions of `line_format` and the Go RE2 pattern rewrite, for the agent's stages.
pub use {goregex::translate as translate_go_regex, template::template_functions};

use crate::ast::Stage;
use skald_common::{Label, LabelSet};
use stage::CompiledStage;
use std::sync::Arc;

/// `__error__` value of a failed unwrap conversion.
pub const ERR_SAMPLE_EXTRACTION: &str = "SampleExtractionErr";

/// Why a pipeline could not be compiled (bad regex, template, IP range, ...). The HTTP
/// layer maps it to 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PipelineError(pub String);

fn err<E: std::fmt::Display>(e: E) -> PipelineError {
    PipelineError(e.to_string())
}

/// Labels of one processed entry, by category (Loki's `LabelsResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelsResult {
    /// Stream labels (as changed by `drop`/`keep`/`label_format` where those apply).
    pub stream: LabelSet,
    /// Structured metadata of the entry, sorted by name (a name colliding with a stream
    /// label is renamed `<name>_extracted`, as in Loki).
    pub structured_metadata: Vec<Label>,
    /// Labels added by parsers and formatters, plus `__error__`/`__error_details__`,
    /// sorted by name.
    pub parsed: Vec<Label>,
}

impl LabelsResult {
    /// All labels merged into one set (what a log query returns without
    /// `categorize-labels`, and what metric queries group by).
    pub fn all(&self) -> LabelSet {
        let mut set = self.stream.clone();
        for label in self.structured_metadata.iter().chain(self.parsed.iter()) {
            set.insert(label.name.clone(), label.value.clone());
        }
        set
    }
}

/// An entry that passed the pipeline.
pub struct Processed<'a> {
    pub line: &'a str,
    pub labels: &'a LabelsResult,
}

struct Inner {
    stages: Vec<CompiledStage>,
    line_filter_only: bool,
    /// Loki's parser hints: when set, the `json` and `logfmt` parsers only build the
    /// labels named here (they still scan the whole line, so `__error__` is the same).
    /// Only set by a sample extractor whose result depends on nothing else.
    hints: Option<Box<[String]>>,
    /// Loki's early label filters (`ShouldContinueParsingLine`): each single-label
    /// filter of the pipeline (name, stage index), wherever it stands, is also applied
    /// right after a parser sets that label, to the value the parser set; a line it
    /// refuses is dropped there. Empty for a metric query grouped `by` some labels.
    early: Box<[(String, usize)]>,
}

/// A pipeline compiled once per query; cheap to share across streams and threads.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").field("stages", &self.inner.stages.len()).finish()
    }
}

impl Pipeline {
    pub fn new(stages: &[Stage]) -> Result<Pipeline, PipelineError> {
        Self::with_hints(stages, None, true)
    }

    fn with_hints(stages: &[Stage], hints: Option<Box<[String]>>, early_filters: bool) -> Result<Pipeline, PipelineError> {
        let early = if early_filters { hints::early_filters(stages) } else { Box::default() };
        // As Loki's `NewStageError`: the stage as written, then what is wrong with it.
        let compile =
            |stage: &Stage| CompiledStage::new(stage).map_err(|e| PipelineError(format!("parse error : stage '{stage}' : {}", e.0)));
        let stages = stages.iter().map(compile).collect::<Result<Vec<_>, _>>()?;
        let line_filter_only = stages.iter().all(|s| matches!(s, CompiledStage::LineFilter(_)));
        Ok(Pipeline { inner: Arc::new(Inner { stages, line_filter_only, hints, early }) })
    }

    /// True when every stage is a line filter (also when there are no stages).
    pub fn line_filter_only(&self) -> bool {
        self.inner.line_filter_only
    }

    /// Runs the line filters on raw bytes (no allocation). Only meaningful when
    /// [`line_filter_only`](Self::line_filter_only); other stages are ignored.
    pub fn matches_line(&self, line: &[u8]) -> bool {
        for s in &self.inner.stages {
            if let CompiledStage::LineFilter(f) = s
                && !f.matches(line)
            {
                return false;
            }
        }
        true
    }

    // `for_stream` is in `stream.rs`, beside the per-stream state it builds.
}
