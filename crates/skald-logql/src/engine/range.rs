//! Range aggregations: per-series, per-step folding of samples.

use super::{EngineError, QueryParams, ScanRequest, SourceStream, StepSeries, Steps, StreamSource, Value};
use crate::ast::{Grouping, MatchOp, Matcher, RangeAggregation, RangeOp};
use crate::pipeline::SampleExtractor;
use skald_common::{Label, LabelSet};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Series past this count fail the query before memory does.
const MAX_INTERMEDIATE_SERIES: usize = 200_000;

/// The state of one window of one series.
#[derive(Debug, Clone, Default)]
struct Acc {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    first: (i64, f64),
    last: (i64, f64),
    mean: f64,
    m2: f64,
    /// Only for quantile and rate_counter: (ts, value).
    values: Vec<(i64, f64)>,
}

impl Acc {
    /// Combines two windows' states (Chan et al.'s parallel mean and variance).
    fn merge(&mut self, other: &Acc) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        if other.min < self.min || self.min.is_nan() {
            self.min = other.min;
        }
        if other.max > self.max || self.max.is_nan() {
            self.max = other.max;
        }
        if other.first.0 < self.first.0 {
            self.first = other.first;
        }
        if other.last.0 > self.last.0 {
            self.last = other.last;
        }
        let (n_a, n_b) = (self.count as f64, other.count as f64);
        let n = n_a + n_b;
        let delta = other.mean - self.mean;
        self.mean += delta * n_b / n;
        self.m2 += other.m2 + delta * delta * n_a * n_b / n;
        self.sum += other.sum;
        self.count += other.count;
        self.values.extend_from_slice(&other.values);
    }

    fn add(&mut self, ts: i64, value: f64, keep_values: bool) {
        if self.count == 0 {
            self.min = value;
            self.max = value;
            self.first = (ts, value);
            self.last = (ts, value);
        } else {
            if value < self.min || self.min.is_nan() {
                self.min = value;
            }
            if value > self.max || self.max.is_nan() {
                self.max = value;
            }
            if ts < self.first.0 {
                self.first = (ts, value);
            }
            if ts >= self.last.0 {
                self.last = (ts, value);
            }
        }
        self.count += 1;
        self.sum += value;
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (value - self.mean);
        if keep_values {
            self.values.push((ts, value));
        }
    }
}

struct SeriesAcc {
    labels: LabelSet,
    /// The next series with the same key hash (`NONE` ends the chain).
    next_same_hash: u32,
}

const NONE: u32 = u32::MAX;

/// The hash of a sorted label list (names and values, each terminated by 0xff, which
/// UTF-8 never contains).
fn hash_labels(labels: &[Label]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    for l in labels {
        h.write(l.name.as_bytes());
        h.write_u8(0xff);
        h.write(l.value.as_bytes());
        h.write_u8(0xff);
    }
    h.finish()
}

/// Output series of a range aggregation, addressed by index. Samples are keyed by
/// their labels after the aggregation's grouping; the key is built into a reused
/// buffer and hashed, and a `LabelSet` is only allocated for a new series.
struct SeriesTable<'g> {
    grouping: Option<&'g Grouping>,
    /// `by` names, sorted and deduplicated (the order of the grouped set).
    by_sorted: Vec<&'g str>,
    steps: usize,
    max_series: usize,
    /// Key hash -> the newest series with that hash.
    by_hash: HashMap<u64, u32, BuildHasherDefault<NoHash>>,
    series: Vec<SeriesAcc>,
    /// `steps` accumulators per series, series after series.
    accs: Vec<Acc>,
    /// Scratch for grouped keys.
    key: Vec<Label>,
}

impl<'g> SeriesTable<'g> {
    fn new(grouping: Option<&'g Grouping>, steps: usize, max_series: usize) -> Self {
        let mut by_sorted: Vec<&str> = match grouping {
            Some(g) if !g.without => g.labels.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        by_sorted.sort_unstable();
        by_sorted.dedup();
        SeriesTable {
            grouping,
            by_sorted,
            steps,
            max_series,
            by_hash: HashMap::default(),
            series: Vec::new(),
            accs: Vec::new(),
            key: Vec::new(),
        }
    }

    /// The series of a full (sorted) label set.
    fn index_of(&mut self, labels: &[Label]) -> Result<usize, EngineError> {
        match self.grouping {
            None => self.index_of_key(labels),
            Some(g) if g.without => {
                let mut key = std::mem::take(&mut self.key);
                let mut n = 0;
                for l in labels.iter().filter(|l| !g.labels.contains(&l.name)) {
                    set_label(&mut key, n, &l.name, &l.value);
                    n += 1;
                }
                key.truncate(n);
                let r = self.index_of_key(&key);
                self.key = key;
                r
            }
            Some(_) => {
                let mut key = std::mem::take(&mut self.key);
                let mut n = 0;
                for name in &self.by_sorted {
                    if let Ok(i) = labels.binary_search_by(|l| l.name.as_str().cmp(name)) {
                        set_label(&mut key, n, name, &labels[i].value);
                        n += 1;
                    }
                }
                key.truncate(n);
                let r = self.index_of_key(&key);
                self.key = key;
                r
            }
        }
    }

    /// The series of a sample under a `by` grouping, reading label values through
    /// `get` (so the sample's full label set is never built).
    fn index_of_by<'a>(&mut self, get: impl Fn(&str) -> Option<&'a str>) -> Result<usize, EngineError> {
        let mut key = std::mem::take(&mut self.key);
        let mut n = 0;
        for name in &self.by_sorted {
            if let Some(value) = get(name) {
                set_label(&mut key, n, name, value);
                n += 1;
            }
        }
        key.truncate(n);
        let r = self.index_of_key(&key);
        self.key = key;
        r
    }

    /// The series whose labels are exactly `key` (sorted), created when new.
    fn index_of_key(&mut self, key: &[Label]) -> Result<usize, EngineError> {
        let hash = hash_labels(key);
        let head = self.by_hash.get(&hash).copied().unwrap_or(NONE);
        let mut i = head;
        while i != NONE {
            let s = &self.series[i as usize];
            if s.labels.as_slice() == key {
                return Ok(i as usize);
            }
            i = s.next_same_hash;
        }
        if self.series.len() >= MAX_INTERMEDIATE_SERIES {
            return Err(super::value::max_series_error(self.max_series));
        }
        let index = self.series.len();
        self.series.push(SeriesAcc { labels: LabelSet::from_labels(key.to_vec()), next_same_hash: head });
        self.accs.resize(self.accs.len() + self.steps, Acc::default());
        self.by_hash.insert(hash, index as u32);
        Ok(index)
    }

    /// True when series `index` has exactly these labels.
    fn is(&self, index: usize, labels: &[Label]) -> bool {
        self.series[index].labels.as_slice() == labels
    }

    /// Adds another worker's table into this one.
    fn merge(&mut self, other: SeriesTable<'_>) -> Result<(), EngineError> {
        let steps = self.steps;
        for (i, series) in other.series.iter().enumerate() {
            let index = self.index_of_key(series.labels.as_slice())?;
            let mine = &mut self.accs[index * steps..(index + 1) * steps];
            for (acc, theirs) in mine.iter_mut().zip(&other.accs[i * steps..(i + 1) * steps]) {
                acc.merge(theirs);
            }
        }
        Ok(())
    }

    fn add(&mut self, series: usize, window: &Window, ts: i64, value: f64, keep_values: bool) {
        let (lo, hi) = window.steps_of(ts);
        let steps = &mut self.accs[series * self.steps..(series + 1) * self.steps];
        for acc in steps.iter_mut().take(hi.wrapping_add(1)).skip(lo) {
            acc.add(ts, value, keep_values);
        }
    }
}

/// Writes `name`/`value` at position `n` of `key`, reusing its strings.
fn set_label(key: &mut Vec<Label>, n: usize, name: &str, value: &str) {
    if n < key.len() {
        let l = &mut key[n];
        if l.name != name {
            l.name.clear();
            l.name.push_str(name);
        }
        if l.value != value {
            l.value.clear();
            l.value.push_str(value);
        }
    } else {
        key.push(Label::new(name, value));
    }
}

/// The key hashes are already FxHash values.
#[derive(Default)]
struct NoHash(u64);

impl Hasher for NoHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// What every stream of one range aggregation is scanned with.
struct StreamScan<'q> {
    extractor: &'q SampleExtractor,
    window: Window,
    keep_values: bool,
    grouped_by: bool,
    line_filter: Option<&'q crate::pipeline::Pipeline>,
    literals: &'q [Vec<u8>],
    from: i64,
    through: i64,
}

impl StreamScan<'_> {
    /// Folds one stream's samples into `table`.
    fn stream(&self, stream: &SourceStream, table: &mut SeriesTable<'_>) -> Result<(), EngineError> {
        let (window, keep_values) = (&self.window, self.keep_values);
        let mut failure: Option<EngineError> = None;
        if self.extractor.needs_no_line() {
            // Counting: the sample is 1 and its labels are the stream's plus metadata.
            // Entries of a stream share few metadata sets: remember recent ones.
            let mut recent: Vec<(Vec<Label>, usize)> = Vec::new();
            let request = ScanRequest { from: self.from, through: self.through, reverse: false, need_lines: false, required_literals: &[] };
            stream.data.scan(&request, &mut |entry| {
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
                table.add(series, window, entry.ts, 1.0, keep_values);
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
                table.add(series, window, entry.ts, value, keep_values);
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
    let keep_values = matches!(agg.op, RangeOp::QuantileOverTime | RangeOp::RateCounter);
    let streams = source.select(&agg.log.matchers, from, through)?;
    let window = Window { first_t, step: steps.step, range, count: steps.count };
    let line_filter = extractor.pipeline().line_filter_only().then(|| extractor.pipeline());
    let literals = super::required_literals(&agg.log.pipeline);
    let scan = StreamScan {
        extractor: &extractor,
        window,
        keep_values,
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

fn finish(agg: &RangeAggregation, acc: &Acc, range_seconds: f64, _t: i64) -> Option<f64> {
    if acc.count == 0 {
        return None;
    }
    let n = acc.count as f64;
    Some(match agg.op {
        RangeOp::CountOverTime => n,
        RangeOp::Rate => acc.sum / range_seconds,
        RangeOp::BytesOverTime => acc.sum,
        RangeOp::BytesRate => acc.sum / range_seconds,
        RangeOp::SumOverTime => acc.sum,
        RangeOp::AvgOverTime => acc.sum / n,
        RangeOp::MinOverTime => acc.min,
        RangeOp::MaxOverTime => acc.max,
        RangeOp::StdvarOverTime => acc.m2 / n,
        RangeOp::StddevOverTime => (acc.m2 / n).sqrt(),
        RangeOp::FirstOverTime => acc.first.1,
        RangeOp::LastOverTime => acc.last.1,
        RangeOp::QuantileOverTime => {
            let mut values: Vec<f64> = acc.values.iter().map(|(_, v)| *v).collect();
            quantile(agg.param.unwrap_or(0.0), &mut values)
        }
        RangeOp::RateCounter => rate_counter(&acc.values, _t, range_seconds),
        RangeOp::AbsentOverTime => return None,
    })
}

/// Prometheus' quantile: linear interpolation between the closest ranks.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0) as usize;
    let upper = (lower + 1).min(values.len() - 1);
    let weight = rank - rank.floor();
    values[lower] * (1.0 - weight) + values[upper] * weight
}

/// Prometheus' extrapolated counter rate over the window ending at `t`.
fn rate_counter(points: &[(i64, f64)], t: i64, range_seconds: f64) -> f64 {
    let mut points = points.to_vec();
    points.sort_by_key(|p| p.0);
    if points.len() < 2 {
        return 0.0;
    }
    let mut increase = points[points.len() - 1].1 - points[0].1;
    for pair in points.windows(2) {
        if pair[1].1 < pair[0].1 {
            increase += pair[0].1;
        }
    }
    let range_start = t as f64 / 1e9 - range_seconds;
    let range_end = t as f64 / 1e9;
    let first_ts = points[0].0 as f64 / 1e9;
    let last_ts = points[points.len() - 1].0 as f64 / 1e9;
    let mut to_start = first_ts - range_start;
    let to_end = range_end - last_ts;
    let sampled = last_ts - first_ts;
    let average_interval = sampled / (points.len() - 1) as f64;
    if increase > 0.0 && points[0].1 >= 0.0 {
        let to_zero = sampled * (points[0].1 / increase);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = average_interval * 1.1;
    let mut extrapolate = sampled;
    extrapolate += if to_start < threshold { to_start } else { average_interval / 2.0 };
    extrapolate += if to_end < threshold { to_end } else { average_interval / 2.0 };
    if sampled == 0.0 {
        return 0.0;
    }
    increase * (extrapolate / sampled) / range_seconds
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
