//! Range aggregations: per-series, per-step folding of samples.

mod acc;
mod table;

use super::{EngineError, QueryParams, ScanRequest, SourceStream, StepSeries, Steps, StreamSource, Value};
use crate::ast::{Grouping, MatchOp, Matcher, RangeAggregation, RangeOp};
use crate::pipeline::SampleExtractor;
use acc::{Acc, AccMode, finish};
use skald_common::{Label, LabelSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use table::SeriesTable;

/// Series past this count fail the query before memory does.
const MAX_INTERMEDIATE_SERIES: usize = 200_000;

/// What every stream of one range aggregation is scanned with.
struct StreamScan<'q> {
    extractor: &'q SampleExtractor,
    window: Window,
    mode: AccMode,
    grouping: Option<&'q Grouping>,
    grouped_by: bool,
    line_filter: Option<&'q crate::pipeline::Pipeline>,
    literals: &'q [Vec<u8>],
    from: i64,
    through: i64,
}

impl StreamScan<'_> {
    /// Folds one stream's samples into `table`.
    fn stream(&self, stream: &SourceStream, table: &mut SeriesTable<'_>) -> Result<(), EngineError> {
        let (window, mode) = (&self.window, self.mode);
        let mut failure: Option<EngineError> = None;
        if self.extractor.needs_no_line() {
            // Counting: the sample is 1 and its labels are the stream's plus metadata.
            // Entries of a stream share few metadata sets: remember recent ones.
            let mut recent: Vec<(Vec<Label>, usize)> = Vec::new();
            // Under `by (...)`, metadata naming none of the grouping labels cannot change
            // the series: such entries all go to the stream's own series.
            let by_names: Option<&[String]> = self.grouping.filter(|g| !g.without).map(|g| g.labels.as_slice());
            let stream_series = match by_names {
                Some(_) => Some(table.index_of(stream.labels.as_slice())?),
                None => None,
            };
            let request = ScanRequest { from: self.from, through: self.through, reverse: false, need_lines: false, required_literals: &[] };
            stream.data.scan(&request, &mut |entry| {
                if let (Some(names), Some(index)) = (by_names, stream_series)
                    && !entry.metadata.iter().any(|l| names.contains(&l.name))
                {
                    table.add(index, window, entry.ts, 1.0, mode);
                    return true;
                }
                let series = match recent.iter().find(|(m, _)| m.as_slice() == entry.metadata) {
                    Some((_, index)) => *index,
                    None => {
                        let mut labels = stream.labels.clone();
                        for label in entry.metadata {
                            labels.insert(label.name.clone(), label.value.clone());
                        }
                        match table.index_of(labels.as_slice()) {
                            Ok(index) => {
                                if recent.len() >= 16 {
                                    recent.remove(0);
                                }
                                recent.push((entry.metadata.to_vec(), index));
                                index
                            }
                            Err(e) => {
                                failure = Some(e);
                                return false;
                            }
                        }
                    }
                };
                table.add(series, window, entry.ts, 1.0, mode);
                true
            })?;
        } else {
            let mut processor = self.extractor.for_stream(&stream.labels);
            // The series of the previous sample of this stream (ungrouped: samples in a
            // row often share their labels).
            let mut last: Option<usize> = None;
            let request =
                ScanRequest { from: self.from, through: self.through, reverse: false, need_lines: true, required_literals: self.literals };
            stream.data.scan(&request, &mut |entry| {
                if let Some(filter) = self.line_filter
                    && !filter.matches_line(entry.line.as_bytes())
                {
                    return true;
                }
                let Some(value) = processor.process_value(entry.ts, entry.line, entry.metadata) else { return true };
                let found = if self.grouped_by {
                    table.index_of_by(|name| processor.label(name))
                } else {
                    let labels = processor.sorted_labels();
                    match last {
                        Some(index) if table.grouping.is_none() && table.is(index, labels) => Ok(index),
                        _ => table.index_of(labels),
                    }
                };
                let series = match found {
                    Ok(index) => index,
                    Err(e) => {
                        failure = Some(e);
                        return false;
                    }
                };
                last = Some(series);
                table.add(series, window, entry.ts, value, mode);
                true
            })?;
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

pub(crate) fn evaluate_range(
    agg: &RangeAggregation,
    params: &QueryParams,
    steps: &Steps,
    source: &dyn StreamSource,
) -> Result<Value, EngineError> {
    let extractor = SampleExtractor::new(agg).map_err(|e| EngineError::bad_request(e.0))?;
    let range = agg.range;
    let first_t = steps.at(0) - agg.offset;
    let last_t = steps.end() - agg.offset;
    let from = first_t - range + 1;
    let through = last_t + 1;
    let mode = AccMode::for_op(agg.op);
    let literals = super::required_literals(&agg.log.pipeline);
    let streams = source.select_for_literals(&agg.log.matchers, from, through, &literals)?;
    let window = Window { first_t, step: steps.step, range, count: steps.count };
    let line_filter = extractor.pipeline().line_filter_only().then(|| extractor.pipeline());
    let scan = StreamScan {
        extractor: &extractor,
        window,
        mode,
        grouping: agg.grouping.as_ref(),
        grouped_by: agg.grouping.as_ref().is_some_and(|g| !g.without),
        line_filter,
        literals: &literals,
        from,
        through,
    };
    // Streams are scanned in parallel, each worker into its own table; tables merge.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(streams.len()).max(1);
    let next = AtomicUsize::new(0);
    let new_table = || SeriesTable::new(agg.grouping.as_ref(), window.count, params.max_series);
    let worker = || -> Result<SeriesTable<'_>, EngineError> {
        let mut table = new_table();
        while let Some(stream) = streams.get(next.fetch_add(1, Ordering::Relaxed)) {
            scan.stream(stream, &mut table)?;
        }
        Ok(table)
    };
    let mut tables = if workers == 1 {
        vec![worker()?]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers).map(|_| scope.spawn(worker)).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(EngineError::internal("a query worker panicked"))))
                .collect::<Result<Vec<_>, _>>()
        })?
    };
    let mut table = tables.pop().unwrap_or_else(new_table);
    for other in tables {
        table.merge(other)?;
    }
    let n_steps = table.steps;
    let (series, accs) = (table.series, table.accs);
    if agg.op == RangeOp::AbsentOverTime {
        return Ok(absent(agg, &accs, window.count));
    }
    let range_seconds = range as f64 / 1e9;
    let mut out = Vec::with_capacity(series.len());
    for (acc, steps) in series.into_iter().zip(accs.chunks(n_steps.max(1))) {
        if let Some(error) = acc.labels.get("__error__")
            && steps.iter().any(|s| s.count > 0)
        {
            return Err(pipeline_error(error, &acc.labels));
        }
        let values = steps.iter().enumerate().map(|(k, s)| finish(agg, s, range_seconds, window.at(k))).collect();
        out.push(StepSeries { labels: acc.labels, values });
    }
    Ok(Value::Vector(out))
}

fn pipeline_error(error: &str, labels: &LabelSet) -> EngineError {
    EngineError::bad_request(format!(
        "pipeline error: '{error}' for series: '{labels}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{error}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )"
    ))
}

#[derive(Clone, Copy)]
struct Window {
    first_t: i64,
    step: i64,
    range: i64,
    count: usize,
}

impl Window {
    fn at(&self, k: usize) -> i64 {
        self.first_t + self.step * k as i64
    }

    /// The steps whose window `(t - range, t]` contains `ts` (inclusive bounds).
    fn steps_of(&self, ts: i64) -> (usize, usize) {
        let rel = ts - self.first_t;
        let lo = div_ceil(rel, self.step).max(0);
        let hi = (rel + self.range - 1).div_euclid(self.step).min(self.count as i64 - 1);
        if hi < lo {
            return (1, 0);
        }
        (lo as usize, hi as usize)
    }
}

fn div_ceil(a: i64, b: i64) -> i64 {
    -((-a).div_euclid(b))
}

/// `by`/`without` of a range aggregation, applied to each sample's labels.
pub(crate) fn group_labels(labels: &LabelSet, grouping: Option<&Grouping>) -> LabelSet {
    match grouping {
        None => labels.clone(),
        Some(g) if g.without => {
            let mut out = labels.clone();
            out.retain(|l| !g.labels.contains(&l.name));
            out
        }
        Some(g) => {
            let mut out = LabelSet::new();
            for name in &g.labels {
                if let Some(value) = labels.get(name) {
                    out.insert(name.clone(), value.to_string());
                }
            }
            out
        }
    }
}

/// `absent_over_time`: 1 where no sample fell in the window, labelled with the
/// selector's equality matchers.
fn absent(agg: &RangeAggregation, accs: &[Acc], count: usize) -> Value {
    let mut present = vec![false; count];
    for steps in accs.chunks(count.max(1)) {
        for (k, step) in steps.iter().enumerate() {
            present[k] |= step.count > 0;
        }
    }
    let labels = absent_labels(&agg.log.matchers);
    let values = present.iter().map(|p| if *p { None } else { Some(1.0) }).collect();
    Value::Vector(vec![StepSeries { labels, values }])
}

fn absent_labels(matchers: &[Matcher]) -> LabelSet {
    let mut labels = LabelSet::new();
    let mut repeated: Vec<&str> = Vec::new();
    for m in matchers.iter().filter(|m| m.op == MatchOp::Eq) {
        if labels.get(&m.name).is_some() {
            repeated.push(&m.name);
        }
        labels.insert(m.name.clone(), m.value.clone());
    }
    for name in repeated {
        labels.remove(name);
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::acc::quantile;
    use super::*;

    #[test]
    fn windows_are_left_open_right_closed() {
        let w = Window { first_t: 100, step: 10, range: 10, count: 5 };
        assert_eq!(w.steps_of(100), (0, 0));
        assert_eq!(w.steps_of(91), (0, 0));
        assert_eq!(w.steps_of(101), (1, 1));
        assert_eq!(w.steps_of(90), (1, 0));
        let w = Window { first_t: 100, step: 10, range: 25, count: 5 };
        assert_eq!(w.steps_of(101), (1, 2));
        assert_eq!(w.steps_of(141), (1, 0));
        assert_eq!(w.steps_of(131), (4, 4));
    }

    #[test]
    fn quantiles() {
        assert_eq!(quantile(0.5, &mut [1.0, 2.0, 3.0]), 2.0);
        assert_eq!(quantile(0.99, &mut [1.0, 2.0]), 1.99);
    }
}
