//! The per-window accumulator of a range aggregation and the functions that turn it into
//! a value (`rate`, quantiles, counter extrapolation, ...).

use crate::ast::{RangeAggregation, RangeOp};

/// What the accumulators of a query must track: counting and summing ops need only
/// `count` and `sum` (the hot path of most metric queries); the others need extremes,
/// ends and moments, and quantiles the values themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AccMode {
    pub(super) full: bool,
    pub(super) values: bool,
}

impl AccMode {
    pub(super) fn for_op(op: RangeOp) -> AccMode {
        let sums_only = matches!(
            op,
            RangeOp::CountOverTime
                | RangeOp::Rate
                | RangeOp::BytesOverTime
                | RangeOp::BytesRate
                | RangeOp::SumOverTime
                | RangeOp::AvgOverTime
                | RangeOp::AbsentOverTime
        );
        AccMode { full: !sums_only, values: matches!(op, RangeOp::QuantileOverTime | RangeOp::RateCounter) }
    }
}

/// The state of one window of one series.
#[derive(Debug, Clone, Default)]
pub(super) struct Acc {
    pub(super) count: u64,
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
    pub(super) fn merge(&mut self, other: &Acc) {
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

    pub(super) fn add(&mut self, ts: i64, value: f64, mode: AccMode) {
        if !mode.full {
            self.count += 1;
            self.sum += value;
            return;
        }
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
        if mode.values {
            self.values.push((ts, value));
        }
    }
}

pub(super) fn finish(agg: &RangeAggregation, acc: &Acc, range_seconds: f64, _t: i64) -> Option<f64> {
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
pub(super) fn quantile(q: f64, values: &mut [f64]) -> f64 {
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
