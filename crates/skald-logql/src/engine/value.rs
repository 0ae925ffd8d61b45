//! Query results, as the HTTP layer serialises them.

use super::{EngineError, QueryParams, StepSeries, Steps, Value};
use crate::pipeline::LabelsResult;
use skald_common::LabelSet;

/// One log line of a result.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub ts: i64,
    pub line: String,
    /// Categorised labels (filled when `categorize_labels` was asked; else empty).
    pub structured_metadata: Vec<skald_common::Label>,
    pub parsed: Vec<skald_common::Label>,
}

/// Entries of one output label set, ordered in the query direction.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamResult {
    pub labels: LabelSet,
    pub entries: Vec<LogEntry>,
}

/// A matrix series: `(timestamp ns, value)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: LabelSet,
    pub points: Vec<(i64, f64)>,
}

/// A vector element.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: LabelSet,
    pub ts: i64,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    Streams(Vec<StreamResult>),
    Matrix(Vec<Series>),
    Vector(Vec<Sample>),
    Scalar(i64, f64),
}

impl QueryResult {
    pub fn result_type(&self) -> &'static str {
        match self {
            QueryResult::Streams(_) => "streams",
            QueryResult::Matrix(_) => "matrix",
            QueryResult::Vector(_) => "vector",
            QueryResult::Scalar(..) => "scalar",
        }
    }
}

/// Turns a per-step value into the result of a range or instant query.
pub(crate) fn into_result(value: Value, params: &QueryParams, steps: &Steps) -> Result<QueryResult, EngineError> {
    match value {
        Value::Scalar(values) => {
            if params.instant {
                return Ok(QueryResult::Scalar(steps.at(0), values[0]));
            }
            let points = values.iter().enumerate().map(|(i, v)| (steps.at(i), *v)).collect();
            Ok(QueryResult::Matrix(vec![Series { labels: LabelSet::new(), points }]))
        }
        Value::Vector(series) => {
            let series: Vec<_> = merge_same_labels(series).into_iter().filter(|s| s.values.iter().any(Option::is_some)).collect();
            if series.len() > params.max_series {
                return Err(max_series_error(params.max_series));
            }
            if params.instant {
                let samples = series
                    .into_iter()
                    .filter_map(|s| s.values[0].map(|value| Sample { labels: s.labels, ts: steps.at(0), value }))
                    .collect();
                return Ok(QueryResult::Vector(samples));
            }
            let matrix = series
                .into_iter()
                .map(|s| Series {
                    labels: s.labels,
                    points: s.values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (steps.at(i), v))).collect(),
                })
                .collect();
            Ok(QueryResult::Matrix(matrix))
        }
    }
}

/// Series with equal labels (for example both sides of `or`) become one series; the
/// first value at a step wins.
pub(crate) fn merge_same_labels(series: Vec<StepSeries>) -> Vec<StepSeries> {
    let mut out: Vec<StepSeries> = Vec::with_capacity(series.len());
    let mut index: std::collections::HashMap<LabelSet, usize> = std::collections::HashMap::new();
    for s in series {
        match index.get(&s.labels) {
            Some(&i) => {
                for (slot, value) in out[i].values.iter_mut().zip(s.values) {
                    if slot.is_none() {
                        *slot = value;
                    }
                }
            }
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    out
}

pub(crate) fn max_series_error(limit: usize) -> EngineError {
    EngineError::bad_request(format!(
        "maximum number of series ({limit}) reached for a single query; consider reducing query cardinality by adding more specific stream selectors, reducing the time range, or aggregating results with functions like sum(), count() or topk()"
    ))
}

/// Splits categorised labels for a log result.
pub(crate) fn entry_labels(labels: &LabelsResult, categorize: bool) -> (LabelSet, Vec<skald_common::Label>, Vec<skald_common::Label>) {
    if categorize {
        (labels.stream.clone(), labels.structured_metadata.clone(), labels.parsed.clone())
    } else {
        (labels.all(), Vec::new(), Vec::new())
    }
}
