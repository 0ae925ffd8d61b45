//! Sample extraction for range aggregations: counts, bytes or unwrapped label values,
//! with the sample's labels.

use super::hints::parser_hints;
use super::label_filter::{CompiledLabelFilter, parse_go_duration, parse_go_float, parse_humanize_bytes};
use super::labels::{ERROR_DETAILS_LABEL, ERROR_LABEL};
use super::stream::StreamPipeline;
use super::{ERR_SAMPLE_EXTRACTION, Pipeline, PipelineError, err};
use crate::ast::{RangeAggregation, RangeOp, UnwrapConversion};
use skald_common::{Label, LabelSet};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SampleKind {
    /// Every entry counts 1.
    Count,
    /// The line length in bytes (after the pipeline).
    Bytes,
    Unwrap,
}

struct UnwrapImpl {
    label: String,
    conversion: UnwrapConversion,
    post_filters: Vec<CompiledLabelFilter>,
    /// The unwrapped label leaves the sample labels unless the aggregation groups
    /// `by` labels (then the grouping decides).
    remove_label: bool,
}

/// The sample extraction of a range aggregation, compiled once per query.
pub struct SampleExtractor {
    pipeline: Pipeline,
    kind: SampleKind,
    unwrap: Option<Arc<UnwrapImpl>>,
}

impl SampleExtractor {
    pub fn new(agg: &RangeAggregation) -> Result<SampleExtractor, PipelineError> {
        // Loki keeps no early label filters when the samples are grouped `by` labels.
        let grouped_by = agg.grouping.as_ref().is_some_and(|g| !g.without && !g.labels.is_empty());
        let pipeline = Pipeline::with_hints(&agg.log.pipeline, parser_hints(agg), !grouped_by)?;
        let kind = match agg.op {
            RangeOp::CountOverTime | RangeOp::Rate | RangeOp::AbsentOverTime => SampleKind::Count,
            RangeOp::BytesOverTime | RangeOp::BytesRate => SampleKind::Bytes,
            _ => SampleKind::Unwrap,
        };
        let unwrap = match (&agg.unwrap, kind) {
            (None, SampleKind::Unwrap) => {
                return Err(PipelineError(format!("invalid aggregation {:?} without unwrap", agg.op)));
            }
            (Some(_), SampleKind::Count | SampleKind::Bytes) => {
                return Err(PipelineError(format!("invalid aggregation {:?} with unwrap", agg.op)));
            }
            (None, _) => None,
            (Some(u), _) => {
                let post_filters =
                    u.post_filters.iter().map(|f| CompiledLabelFilter::new(f).map_err(err)).collect::<Result<Vec<_>, _>>()?;
                let remove_label = match &agg.grouping {
                    Some(g) => g.without,
                    None => true,
                };
                Some(Arc::new(UnwrapImpl { label: u.label.clone(), conversion: u.conversion, post_filters, remove_label }))
            }
        };
        Ok(SampleExtractor { pipeline, kind, unwrap })
    }

    /// True when the sample value and labels do not depend on the line content at all
    /// (no pipeline stages, no unwrap, a count-like op): every entry is a sample of value
    /// 1 whose labels are the stream labels plus the entry's structured metadata, so the
    /// engine may count entries from timestamps (and metadata) alone.
    pub fn needs_no_line(&self) -> bool {
        self.kind == SampleKind::Count && self.unwrap.is_none() && self.pipeline.inner.stages.is_empty()
    }

    /// The log pipeline before the sample extraction.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    pub fn for_stream(&self, labels: &LabelSet) -> StreamSampleExtractor {
        StreamSampleExtractor {
            sp: self.pipeline.for_stream(labels),
            kind: self.kind,
            unwrap: self.unwrap.clone(),
            tmp: Vec::new(),
            labels: labels.clone(),
        }
    }
}

/// Per-stream sample extraction.
pub struct StreamSampleExtractor {
    sp: StreamPipeline,
    kind: SampleKind,
    unwrap: Option<Arc<UnwrapImpl>>,
    tmp: Vec<Label>,
    labels: LabelSet,
}

impl StreamSampleExtractor {
    /// The sample of one entry: `None` when the pipeline drops it (or, with unwrap, when
    /// the label is missing or empty). A failed conversion keeps the sample with value 0
    /// and `__error__="SampleExtractionErr"` unless a post filter drops it.
    pub fn process(&mut self, ts: i64, line: &str, metadata: &[Label]) -> Option<(f64, &LabelSet)> {
        let value = self.process_value(ts, line, metadata)?;
        // Full label set, sorted; reuse the previous set when nothing changed.
        self.sorted_labels();
        if self.tmp.as_slice() != self.labels.as_slice() {
            self.labels = LabelSet::from_labels(self.tmp.clone());
        }
        Some((value, &self.labels))
    }

    /// Like [`process`](Self::process) but only the value: the sample's labels are then
    /// read with [`label`](Self::label) or [`sorted_labels`](Self::sorted_labels) (until
    /// the next entry).
    pub fn process_value(&mut self, ts: i64, line: &str, metadata: &[Label]) -> Option<f64> {
        let cur = self.sp.run(ts, line, metadata)?;
        Some(match self.kind {
            SampleKind::Count => 1.0,
            SampleKind::Bytes => self.sp.line(cur, line).len() as f64,
            SampleKind::Unwrap => {
                let u = self.unwrap.as_ref()?;
                let b = &mut self.sp.b;
                let raw = match b.get(&u.label) {
                    Some(v) if !v.is_empty() => v,
                    _ => return None,
                };
                let converted = match u.conversion {
                    UnwrapConversion::None => parse_go_float(raw),
                    UnwrapConversion::Duration | UnwrapConversion::DurationSeconds => parse_go_duration(raw).map(|d| d as f64 / 1e9),
                    UnwrapConversion::Bytes => parse_humanize_bytes(raw).map(|v| v as f64),
                };
                let v = match converted {
                    Ok(v) => v,
                    Err(e) => {
                        b.set_err(ERR_SAMPLE_EXTRACTION, Some(&e));
                        0.0
                    }
                };
                for f in &u.post_filters {
                    if !f.process(b) {
                        return None;
                    }
                }
                if u.remove_label {
                    b.del(&u.label);
                }
                v
            }
        })
    }

    /// The value of one label of the last sample's full label set (what `process`
    /// returns), without building the set.
    pub fn label(&self, name: &str) -> Option<&str> {
        // The set is built in the order stream, metadata, parsed, error labels, and
        // the last of a repeated name wins.
        let b = &self.sp.b;
        if name == ERROR_LABEL && !b.err.is_empty() {
            return Some(&b.err);
        }
        if name == ERROR_DETAILS_LABEL && !b.err_details.is_empty() {
            return Some(&b.err_details);
        }
        b.get(name)
    }

    /// The last sample's full label set, sorted by name (buffers reused).
    pub fn sorted_labels(&mut self) -> &[Label] {
        let b = &self.sp.b;
        let tmp = &mut self.tmp;
        let mut n = 0;
        b.for_each(|name, value| {
            if n < tmp.len() {
                reuse_label(&mut tmp[n], name, value);
            } else {
                tmp.push(Label::new(name, value));
            }
            n += 1;
        });
        tmp.truncate(n);
        if !tmp.is_sorted_by(|x, y| x.name < y.name) {
            // Stable, so that of a repeated name (a parsed `__error__` next to the
            // error itself) the last one wins, as in `LabelSet::from_labels`.
            tmp.sort_by(|x, y| x.name.cmp(&y.name));
            tmp.dedup_by(|later, kept| {
                if later.name != kept.name {
                    return false;
                }
                std::mem::swap(later, kept);
                true
            });
        }
        tmp
    }
}

fn reuse_label(l: &mut Label, name: &str, value: &str) {
    if l.name != name {
        l.name.clear();
        l.name.push_str(name);
    }
    if l.value != value {
        l.value.clear();
        l.value.push_str(value);
    }
}
