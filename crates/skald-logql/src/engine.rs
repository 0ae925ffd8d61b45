//! Evaluation of LogQL queries over a [`StreamSource`].
//!
//! The engine is pure and synchronous: the querier fetches data (from ingesters and the
//! store) behind [`StreamSource`], and runs the evaluation on a blocking thread.
//!
//! - Log queries ([`logs`]) scan each selected stream in the query direction, stop a
//!   stream once it has `limit` matching entries, and merge streams keeping the newest
//!   (or oldest) `limit` entries overall.
//! - Range aggregations ([`range`]) turn each entry into a sample through the
//!   pipeline and fold it into per-series, per-step accumulators; each step `t` covers
//!   the window `(t - offset - range, t - offset]` as in Loki. Counting queries with no
//!   pipeline read timestamps only, never line text.
//! - Vector aggregations, binary operators and functions ([`vector`], [`binary`]) work
//!   step by step on the resulting series.

mod binary;
mod logs;
mod range;
mod value;
mod variants;
mod vector;

pub use variants::VARIANT_LABEL;

pub use value::{LogEntry, QueryResult, Sample, Series, StreamResult};

use crate::ast::{Expr, LogExpr, Matcher, SampleExpr};
use skald_common::{Label, LabelSet};

/// Log query direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// The parameters of one evaluation.
#[derive(Debug, Clone)]
pub struct QueryParams {
    /// Inclusive start (ns). For instant queries, `start == end`.
    pub start: i64,
    /// End (ns): exclusive for log queries, the last step for metric queries.
    pub end: i64,
    /// Step of metric range queries (ns); 0 for instant queries.
    pub step: i64,
    pub limit: usize,
    pub direction: Direction,
    /// An instant query (`/query`): metric results are vectors.
    pub instant: bool,
    /// `max_query_series`.
    pub max_series: usize,
    /// Keep stream labels, structured metadata and parsed labels apart in log results
    /// (`categorize-labels`).
    pub categorize_labels: bool,
}

/// A failed evaluation, with the HTTP status it maps to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EngineError {
    pub status: u16,
    pub message: String,
}

impl EngineError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        EngineError { status: 400, message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        EngineError { status: 500, message: message.into() }
    }
}

/// Where entries come from. Implemented by the querier over ingesters and the store.
pub trait StreamSource: Sync {
    /// Streams matching `matchers` that may hold entries in `[from, through)`.
    fn select(&self, matchers: &[Matcher], from: i64, through: i64) -> Result<Vec<SourceStream>, EngineError>;

    /// [`StreamSource::select`] for scans whose wanted lines all contain
    /// `required_literals` (see [`ScanRequest::required_literals`]): blocks that cannot
    /// hold such a line may be left out already here (an ingester then does not ship
    /// them at all). An optimisation only.
    fn select_for_literals(
        &self,
        matchers: &[Matcher],
        from: i64,
        through: i64,
        required_literals: &[Vec<u8>],
    ) -> Result<Vec<SourceStream>, EngineError> {
        let _ = required_literals;
        self.select(matchers, from, through)
    }

    /// Records a warning for the answer (Loki's `warnings`), such as a dropped variant.
    fn warn(&self, _message: String) {}
}

/// One stream's data.
pub struct SourceStream {
    pub labels: LabelSet,
    pub data: Box<dyn StreamData>,
}

/// What a visitor gets for each entry.
pub struct EntryRef<'a> {
    pub ts: i64,
    /// Empty when the scan was asked for no lines.
    pub line: &'a str,
    /// Length of the line in bytes (known even without the line).
    pub line_len: usize,
    pub metadata: &'a [Label],
}

/// What a scan of one stream reads.
#[derive(Debug, Clone, Copy)]
pub struct ScanRequest<'a> {
    /// Entries with `from <= ts < through`.
    pub from: i64,
    pub through: i64,
    /// Newest first.
    pub reverse: bool,
    /// With `false` the implementation may skip decompressing lines (counting).
    pub need_lines: bool,
    /// Byte strings every wanted line contains (from the query's leading `|=` filters):
    /// a block whose text lacks one of them holds no wanted line and may be skipped
    /// whole. An optimisation only; visitors still apply the full pipeline.
    pub required_literals: &'a [Vec<u8>],
}

/// Scans one stream's entries, deduplicated and in time order.
pub trait StreamData: Send + Sync {
    /// Visits the requested entries in timestamp order until the visitor returns
    /// `false`.
    fn scan(&self, request: &ScanRequest<'_>, visit: &mut dyn FnMut(&EntryRef<'_>) -> bool) -> Result<(), EngineError>;
}

/// The literals every line passing `stages` must contain: those of the leading `|=`
/// filters with a single literal (before any stage that may rewrite the line).
pub fn required_literals(stages: &[crate::ast::Stage]) -> Vec<Vec<u8>> {
    use crate::ast::{LineFilterOp, LineFilterValue, Stage};
    let mut out = Vec::new();
    for stage in stages {
        match stage {
            Stage::LineFilter(filter) => {
                if filter.op == LineFilterOp::Contains
                    && let [LineFilterValue::Literal(text)] = filter.values.as_slice()
                    && !text.is_empty()
                {
                    out.push(text.as_bytes().to_vec());
                }
            }
            // Parsers and label filters keep the line as it is; formatters rewrite it.
            Stage::Parser(_) | Stage::LabelFilter(_) | Stage::Drop(_) | Stage::Keep(_) => {}
            Stage::LineFormat(_) | Stage::LabelFormat(_) | Stage::Decolorize => break,
        }
    }
    out
}

/// Evaluates a parsed query.
pub fn evaluate(expr: &Expr, params: &QueryParams, source: &dyn StreamSource) -> Result<QueryResult, EngineError> {
    match expr {
        Expr::Log(log) => {
            if params.instant {
                return Err(EngineError::bad_request(
                    "log queries are not supported as an instant query type, please change your query to a range query type",
                ));
            }
            logs::evaluate_logs(log, params, source)
        }
        Expr::Sample(sample) => {
            let steps = Steps::new(params);
            let value = evaluate_sample(sample, params, &steps, source)?;
            value::into_result(value, params, &steps)
        }
        Expr::Variants(variants) => {
            let steps = Steps::new(params);
            let value = variants::evaluate_variants(variants, params, &steps, source)?;
            // The series limit applied to each variant; the answer as a whole has none.
            value::into_result(value, &QueryParams { max_series: usize::MAX, ..params.clone() }, &steps)
        }
    }
}

/// The evaluation timestamps of a metric query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Steps {
    pub start: i64,
    pub step: i64,
    pub count: usize,
}

impl Steps {
    fn new(params: &QueryParams) -> Steps {
        if params.instant || params.step <= 0 {
            return Steps { start: params.end, step: 1, count: 1 };
        }
        let count = ((params.end - params.start) / params.step) as usize + 1;
        Steps { start: params.start, step: params.step, count }
    }

    pub fn at(&self, index: usize) -> i64 {
        self.start + self.step * index as i64
    }

    pub fn end(&self) -> i64 {
        self.at(self.count - 1)
    }
}

/// An intermediate value: a scalar per step or a set of series with a value per step.
pub(crate) enum Value {
    Scalar(Vec<f64>),
    Vector(Vec<StepSeries>),
}

/// A series with one optional value per step.
#[derive(Debug, Clone)]
pub(crate) struct StepSeries {
    pub labels: LabelSet,
    pub values: Vec<Option<f64>>,
}

pub(crate) fn evaluate_sample(
    expr: &SampleExpr,
    params: &QueryParams,
    steps: &Steps,
    source: &dyn StreamSource,
) -> Result<Value, EngineError> {
    match expr {
        SampleExpr::RangeAggregation(agg) => range::evaluate_range(agg, params, steps, source),
        SampleExpr::VectorAggregation(agg) => {
            // Loki's canInjectVectorGrouping: under `sum`, a counting or summing range
            // aggregation without a grouping of its own is grouped by the sum's grouping
            // (`sum(x)` has an empty one). Loki does it for speed, and it decides which
            // labels, `__error__` among them, reach the pipeline-error check.
            if let SampleExpr::RangeAggregation(range_agg) = agg.expr.as_ref()
                && agg.op == crate::ast::VectorOp::Sum
                && range_agg.grouping.is_none()
                && can_inject_grouping(range_agg.op)
            {
                let mut pushed = range_agg.clone();
                pushed.grouping = Some(agg.grouping.clone().unwrap_or(crate::ast::Grouping { without: false, labels: Vec::new() }));
                let inner = range::evaluate_range(&pushed, params, steps, source)?;
                return vector::aggregate(agg, inner, steps);
            }
            let inner = evaluate_sample(&agg.expr, params, steps, source)?;
            vector::aggregate(agg, inner, steps)
        }
        SampleExpr::Binary(binary) => {
            let lhs = evaluate_sample(&binary.lhs, params, steps, source)?;
            let rhs = evaluate_sample(&binary.rhs, params, steps, source)?;
            binary::evaluate_binary(binary, lhs, rhs, steps)
        }
        SampleExpr::Literal(v) => Ok(Value::Scalar(vec![*v; steps.count])),
        SampleExpr::Vector(v) => Ok(Value::Vector(vec![StepSeries { labels: LabelSet::new(), values: vec![Some(*v); steps.count] }])),
        SampleExpr::LabelReplace(replace) => {
            let inner = evaluate_sample(&replace.expr, params, steps, source)?;
            vector::label_replace(replace, inner)
        }
        SampleExpr::Paren(inner) => evaluate_sample(inner, params, steps, source),
    }
}

fn can_inject_grouping(op: crate::ast::RangeOp) -> bool {
    use crate::ast::RangeOp;
    matches!(op, RangeOp::BytesOverTime | RangeOp::BytesRate | RangeOp::SumOverTime | RangeOp::Rate | RangeOp::CountOverTime)
}

/// The log expressions a query reads (for statistics and planning).
pub fn log_selectors(expr: &Expr) -> Vec<&LogExpr> {
    fn walk<'a>(expr: &'a SampleExpr, out: &mut Vec<&'a LogExpr>) {
        match expr {
            SampleExpr::RangeAggregation(agg) => out.push(&agg.log),
            SampleExpr::VectorAggregation(agg) => walk(&agg.expr, out),
            SampleExpr::Binary(b) => {
                walk(&b.lhs, out);
                walk(&b.rhs, out);
            }
            SampleExpr::LabelReplace(r) => walk(&r.expr, out),
            SampleExpr::Paren(inner) => walk(inner, out),
            SampleExpr::Literal(_) | SampleExpr::Vector(_) => {}
        }
    }
    match expr {
        Expr::Log(log) => vec![log],
        Expr::Variants(variants) => vec![&variants.log],
        Expr::Sample(sample) => {
            let mut out = Vec::new();
            walk(sample, &mut out);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_expr;

    /// Streams held in memory, for evaluating queries without a store.
    struct VecSource(Vec<(LabelSet, Vec<(i64, String)>)>);

    struct VecData(Vec<(i64, String)>);

    impl StreamData for VecData {
        fn scan(&self, request: &ScanRequest<'_>, visit: &mut dyn FnMut(&EntryRef<'_>) -> bool) -> Result<(), EngineError> {
            let mut entries: Vec<&(i64, String)> = self.0.iter().filter(|(ts, _)| (request.from..request.through).contains(ts)).collect();
            if request.reverse {
                entries.reverse();
            }
            for (ts, line) in entries {
                if !visit(&EntryRef { ts: *ts, line, line_len: line.len(), metadata: &[] }) {
                    break;
                }
            }
            Ok(())
        }
    }

    impl StreamSource for VecSource {
        fn select(&self, matchers: &[Matcher], _from: i64, _through: i64) -> Result<Vec<SourceStream>, EngineError> {
            let selected = self.0.iter().filter(|(labels, _)| {
                matchers.iter().all(|m| m.op != crate::ast::MatchOp::Eq || labels.get(&m.name) == Some(m.value.as_str()))
            });
            Ok(selected
                .map(|(labels, entries)| SourceStream { labels: labels.clone(), data: Box::new(VecData(entries.clone())) })
                .collect())
        }
    }

    fn instant(query: &str, source: &VecSource) -> Result<QueryResult, EngineError> {
        let params = QueryParams {
            start: 100_000_000_000,
            end: 100_000_000_000,
            step: 0,
            limit: 100,
            direction: Direction::Backward,
            instant: true,
            max_series: 500,
            categorize_labels: false,
        };
        evaluate(&parse_expr(query).unwrap(), &params, source)
    }

    #[test]
    fn sum_injects_its_grouping_as_loki_does() {
        let lines = vec![(1_000_000_000, r#"{"level":"info"}"#.to_string()), (2_000_000_000, r#"{"level":"#.to_string())];
        let source = VecSource(vec![(LabelSet::from_pairs([("app", "a")]), lines)]);
        // Alone, the broken line's __error__ fails the query...
        let error = instant(r#"count_over_time({app="a"} | json [5m])"#, &source).unwrap_err();
        assert!(error.message.contains("JSONParserErr"), "{}", error.message);
        // ...under sum the grouping is pushed down and the error label grouped away.
        let QueryResult::Vector(samples) = instant(r#"sum(count_over_time({app="a"} | json [5m]))"#, &source).unwrap() else { panic!() };
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].value, 2.0);
        // max is not a sum: no push-down, the error stays.
        assert!(instant(r#"max(count_over_time({app="a"} | json [5m]))"#, &source).is_err());
    }
}
