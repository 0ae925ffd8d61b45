//! Vector aggregations and `label_replace`, step by step.

use super::range::group_labels;
use super::{EngineError, StepSeries, Steps, Value};
use crate::ast::{LabelReplace, VectorAggregation, VectorOp};
use skald_common::LabelSet;
use std::collections::HashMap;

pub(crate) fn aggregate(agg: &VectorAggregation, inner: Value, steps: &Steps) -> Result<Value, EngineError> {
    let Value::Vector(series) = inner else {
        return Err(EngineError::bad_request("vector aggregation expects an instant vector, got a scalar"));
    };
    match agg.op {
        VectorOp::Sort | VectorOp::SortDesc => return Ok(Value::Vector(sort(series, agg.op == VectorOp::SortDesc))),
        VectorOp::Topk | VectorOp::Bottomk | VectorOp::ApproxTopk => return topk(agg, series, steps),
        _ => {}
    }
    // Group series by their output labels.
    let mut groups: HashMap<LabelSet, Vec<usize>> = HashMap::new();
    let mut order: Vec<LabelSet> = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let key = group_labels(&s.labels, Some(&grouping_or_all(agg)));
        groups
            .entry(key.clone())
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push(i);
    }
    let mut out = Vec::with_capacity(order.len());
    for key in order {
        let members = &groups[&key];
        let mut values = Vec::with_capacity(steps.count);
        for k in 0..steps.count {
            let present: Vec<f64> = members.iter().filter_map(|&i| series[i].values[k]).collect();
            values.push(if present.is_empty() { None } else { Some(fold(agg.op, &present)) });
        }
        out.push(StepSeries { labels: key, values });
    }
    Ok(Value::Vector(out))
}

/// `sum(x)` without grouping groups everything together (an empty `by`).
fn grouping_or_all(agg: &VectorAggregation) -> crate::ast::Grouping {
    agg.grouping.clone().unwrap_or(crate::ast::Grouping { without: false, labels: Vec::new() })
}

fn fold(op: VectorOp, values: &[f64]) -> f64 {
    let n = values.len() as f64;
    match op {
        VectorOp::Sum => values.iter().sum(),
        VectorOp::Avg => {
            let mut mean = 0.0;
            for (i, v) in values.iter().enumerate() {
                mean += (v - mean) / (i + 1) as f64;
            }
            mean
        }
        VectorOp::Min => values.iter().copied().fold(f64::NAN, |a, b| if a.is_nan() || b < a { b } else { a }),
        VectorOp::Max => values.iter().copied().fold(f64::NAN, |a, b| if a.is_nan() || b > a { b } else { a }),
        VectorOp::Count => n,
        VectorOp::Stddev | VectorOp::Stdvar => {
            let mean = values.iter().sum::<f64>() / n;
            let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            if op == VectorOp::Stddev { var.sqrt() } else { var }
        }
        VectorOp::Topk | VectorOp::Bottomk | VectorOp::ApproxTopk | VectorOp::Sort | VectorOp::SortDesc => f64::NAN,
    }
}

fn sort(mut series: Vec<StepSeries>, descending: bool) -> Vec<StepSeries> {
    // Only the order of an instant vector is visible; sort by the last step's value.
    let key = |s: &StepSeries| s.values.iter().rev().find_map(|v| *v).unwrap_or(f64::NAN);
    series.sort_by(|a, b| {
        let (x, y) = (key(a), key(b));
        if descending { y.total_cmp(&x) } else { x.total_cmp(&y) }
    });
    series
}

fn topk(agg: &VectorAggregation, series: Vec<StepSeries>, steps: &Steps) -> Result<Value, EngineError> {
    let k = agg.param.unwrap_or(0.0);
    if !(k.is_finite() && k >= 1.0) {
        return Err(EngineError::bad_request(format!("invalid parameter k: {k}, must be >= 1")));
    }
    let k = k as usize;
    let top = agg.op != VectorOp::Bottomk;
    let mut groups: HashMap<LabelSet, Vec<usize>> = HashMap::new();
    for (i, s) in series.iter().enumerate() {
        groups.entry(group_labels(&s.labels, Some(&grouping_or_all(agg)))).or_default().push(i);
    }
    let mut keep: Vec<Vec<Option<f64>>> = vec![vec![None; steps.count]; series.len()];
    for members in groups.values() {
        #[allow(clippy::needless_range_loop, reason = "`step` indexes the values of several series")]
        for step in 0..steps.count {
            let mut present: Vec<(usize, f64)> = members.iter().filter_map(|&i| series[i].values[step].map(|v| (i, v))).collect();
            present.sort_by(|a, b| if top { b.1.total_cmp(&a.1) } else { a.1.total_cmp(&b.1) });
            for (i, v) in present.into_iter().take(k) {
                keep[i][step] = Some(v);
            }
        }
    }
    let mut out: Vec<StepSeries> = series.into_iter().zip(keep).map(|(s, values)| StepSeries { labels: s.labels, values }).collect();
    out.sort_by(|a, b| {
        let (x, y) = (a.values.iter().rev().find_map(|v| *v), b.values.iter().rev().find_map(|v| *v));
        let (x, y) = (x.unwrap_or(f64::NAN), y.unwrap_or(f64::NAN));
        if top { y.total_cmp(&x) } else { x.total_cmp(&y) }
    });
    Ok(Value::Vector(out))
}

pub(crate) fn label_replace(replace: &LabelReplace, inner: Value) -> Result<Value, EngineError> {
    let Value::Vector(series) = inner else {
        return Err(EngineError::bad_request("label_replace expects an instant vector"));
    };
    if !skald_common::is_valid_label_name(&replace.dst) {
        return Err(EngineError::bad_request(format!("invalid destination label name in label_replace(): {}", replace.dst)));
    }
    let regex = regex::Regex::new(&format!("^(?s:{})$", replace.regex))
        .map_err(|e| EngineError::bad_request(format!("invalid regular expression in label_replace(): {e}")))?;
    let mut out = Vec::with_capacity(series.len());
    for mut s in series {
        let source = s.labels.get(&replace.src).unwrap_or("").to_string();
        if let Some(captures) = regex.captures(&source) {
            let mut value = String::new();
            captures.expand(&go_template(&replace.replacement), &mut value);
            if value.is_empty() {
                s.labels.remove(&replace.dst);
            } else {
                s.labels.insert(replace.dst.clone(), value);
            }
        }
        out.push(s);
    }
    Ok(Value::Vector(out))
}

/// Go's `$1` expansion takes the longest name (`$1x` is group "1x"); Rust's `expand`
/// does the same, so the replacement is used as is.
fn go_template(replacement: &str) -> String {
    replacement.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds() {
        assert_eq!(fold(VectorOp::Sum, &[1.0, 2.0]), 3.0);
        assert_eq!(fold(VectorOp::Avg, &[1.0, 2.0]), 1.5);
        assert_eq!(fold(VectorOp::Min, &[3.0, 2.0]), 2.0);
        assert_eq!(fold(VectorOp::Count, &[3.0, 2.0]), 2.0);
        assert_eq!(fold(VectorOp::Stdvar, &[1.0, 3.0]), 1.0);
    }
}
