//! Binary operators with Prometheus' vector matching.

use super::{EngineError, StepSeries, Steps, Value};
use crate::ast::{BinaryExpr, BinaryOp, GroupSide};
use skald_common::LabelSet;
use std::collections::HashMap;

pub(crate) fn evaluate_binary(expr: &BinaryExpr, lhs: Value, rhs: Value, steps: &Steps) -> Result<Value, EngineError> {
    let op = expr.op;
    let is_set = matches!(op, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless);
    let is_cmp = is_comparison(op);
    match (lhs, rhs) {
        (Value::Scalar(a), Value::Scalar(b)) => {
            if is_set {
                return Err(EngineError::bad_request("set operator not allowed in binary scalar expression"));
            }
            // Only literals make scalars: fold them as Loki's parser does.
            let values = a.iter().zip(&b).map(|(x, y)| op.fold_literals(*x, *y).unwrap_or(0.0)).collect();
            Ok(Value::Scalar(values))
        }
        (Value::Vector(series), Value::Scalar(scalar)) | (Value::Scalar(scalar), Value::Vector(series)) if is_set => {
            let _ = (series, scalar);
            Err(EngineError::bad_request("set operator not allowed in binary scalar expression"))
        }
        (Value::Vector(series), Value::Scalar(scalar)) => {
            Ok(Value::Vector(vector_scalar(op, expr.return_bool, series, &scalar, false, is_cmp)))
        }
        (Value::Scalar(scalar), Value::Vector(series)) => {
            Ok(Value::Vector(vector_scalar(op, expr.return_bool, series, &scalar, true, is_cmp)))
        }
        (Value::Vector(l), Value::Vector(r)) => {
            if is_set {
                Ok(Value::Vector(set_op(expr, l, r, steps)))
            } else {
                vector_vector(expr, l, r, steps).map(Value::Vector)
            }
        }
    }
}

fn is_comparison(op: BinaryOp) -> bool {
    matches!(op, BinaryOp::Eq | BinaryOp::Neq | BinaryOp::Gt | BinaryOp::Gte | BinaryOp::Lt | BinaryOp::Lte)
}

/// Applies `op`; comparisons give `Some(1|0)` with `bool`, else `Some(lhs)`/`None`.
fn scalar_op(op: BinaryOp, a: f64, b: f64, return_bool: bool) -> Option<f64> {
    let cmp = |c: bool| {
        if return_bool {
            Some(if c { 1.0 } else { 0.0 })
        } else if c {
            Some(a)
        } else {
            None
        }
    };
    match op {
        BinaryOp::Add => Some(a + b),
        BinaryOp::Sub => Some(a - b),
        BinaryOp::Mul => Some(a * b),
        BinaryOp::Div => Some(a / b),
        BinaryOp::Mod => Some(a % b),
        BinaryOp::Pow => Some(a.powf(b)),
        BinaryOp::Eq => cmp(a == b),
        BinaryOp::Neq => cmp(a != b),
        BinaryOp::Gt => cmp(a > b),
        BinaryOp::Gte => cmp(a >= b),
        BinaryOp::Lt => cmp(a < b),
        BinaryOp::Lte => cmp(a <= b),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => None,
    }
}

fn vector_scalar(
    op: BinaryOp,
    return_bool: bool,
    series: Vec<StepSeries>,
    scalar: &[f64],
    scalar_left: bool,
    is_cmp: bool,
) -> Vec<StepSeries> {
    series
        .into_iter()
        .map(|s| {
            let values = s
                .values
                .iter()
                .enumerate()
                .map(|(k, v)| {
                    let v = (*v)?;
                    let (a, b) = if scalar_left { (scalar[k], v) } else { (v, scalar[k]) };
                    let result = scalar_op(op, a, b, return_bool)?;
                    // A filtering comparison keeps the vector's value, whichever side it is on.
                    Some(if is_cmp && !return_bool { v } else { result })
                })
                .collect();
            StepSeries { labels: s.labels, values }
        })
        .collect()
}

/// The labels a series is matched on.
fn signature(labels: &LabelSet, expr: &BinaryExpr) -> LabelSet {
    match &expr.matching {
        Some(m) if m.on => {
            let mut out = LabelSet::new();
            for name in &m.labels {
                if let Some(v) = labels.get(name) {
                    out.insert(name.clone(), v.to_string());
                }
            }
            out
        }
        Some(m) => {
            let mut out = labels.clone();
            out.retain(|l| !m.labels.contains(&l.name));
            out
        }
        None => labels.clone(),
    }
}

fn vector_vector(expr: &BinaryExpr, lhs: Vec<StepSeries>, rhs: Vec<StepSeries>, steps: &Steps) -> Result<Vec<StepSeries>, EngineError> {
    let (many, one, many_is_left) = match &expr.group {
        Some((GroupSide::Right, _)) => (rhs, lhs, false),
        _ => (lhs, rhs, true),
    };
    let grouped = expr.group.is_some();
    // Index the "one" side by signature; duplicates there are an error.
    let mut one_index: HashMap<LabelSet, usize> = HashMap::new();
    for (i, s) in one.iter().enumerate() {
        if one_index.insert(signature(&s.labels, expr), i).is_some() {
            return Err(EngineError::bad_request(
                "found duplicate series for the match group on the right hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side",
            ));
        }
    }
    let mut out: HashMap<LabelSet, StepSeries> = HashMap::new();
    let mut order: Vec<LabelSet> = Vec::new();
    for s in &many {
        let sig = signature(&s.labels, expr);
        let Some(&j) = one_index.get(&sig) else { continue };
        let other = &one[j];
        let labels = result_labels(expr, &s.labels, &other.labels, grouped);
        let entry = out.entry(labels.clone()).or_insert_with(|| {
            order.push(labels.clone());
            StepSeries { labels: labels.clone(), values: vec![None; steps.count] }
        });
        for k in 0..steps.count {
            let (Some(a), Some(b)) = (s.values[k], other.values[k]) else { continue };
            let (l, r) = if many_is_left { (a, b) } else { (b, a) };
            if entry.values[k].is_some() && !grouped {
                return Err(EngineError::bad_request(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
            let value = scalar_op(expr.op, l, r, expr.return_bool);
            entry.values[k] = if is_comparison(expr.op) && !expr.return_bool { value.map(|_| l) } else { value };
        }
    }
    Ok(order.into_iter().filter_map(|l| out.remove(&l)).collect())
}

fn result_labels(expr: &BinaryExpr, many: &LabelSet, one: &LabelSet, grouped: bool) -> LabelSet {
    let mut labels = many.clone();
    if !grouped && let Some(m) = &expr.matching {
        if m.on {
            labels.retain(|l| m.labels.contains(&l.name));
        } else {
            labels.retain(|l| !m.labels.contains(&l.name));
        }
    }
    if let Some((_, include)) = &expr.group {
        for name in include {
            match one.get(name) {
                Some(v) => labels.insert(name.clone(), v.to_string()),
                None => {
                    labels.remove(name);
                }
            }
        }
    }
    labels
}

fn set_op(expr: &BinaryExpr, lhs: Vec<StepSeries>, rhs: Vec<StepSeries>, steps: &Steps) -> Vec<StepSeries> {
    // For each step, which signatures the right side has.
    let mut rhs_present: HashMap<LabelSet, Vec<bool>> = HashMap::new();
    for s in &rhs {
        let present = rhs_present.entry(signature(&s.labels, expr)).or_insert_with(|| vec![false; steps.count]);
        for (k, v) in s.values.iter().enumerate() {
            present[k] |= v.is_some();
        }
    }
    match expr.op {
        BinaryOp::And | BinaryOp::Unless => {
            let keep_if_present = expr.op == BinaryOp::And;
            lhs.into_iter()
                .map(|mut s| {
                    let present = rhs_present.get(&signature(&s.labels, expr));
                    for k in 0..steps.count {
                        let on_right = present.is_some_and(|p| p[k]);
                        if on_right != keep_if_present {
                            s.values[k] = None;
                        }
                    }
                    s
                })
                .collect()
        }
        _ => {
            let mut lhs_present: HashMap<LabelSet, Vec<bool>> = HashMap::new();
            for s in &lhs {
                let present = lhs_present.entry(signature(&s.labels, expr)).or_insert_with(|| vec![false; steps.count]);
                for (k, v) in s.values.iter().enumerate() {
                    present[k] |= v.is_some();
                }
            }
            let mut out = lhs;
            for mut s in rhs {
                let present = lhs_present.get(&signature(&s.labels, expr));
                for k in 0..steps.count {
                    if present.is_some_and(|p| p[k]) {
                        s.values[k] = None;
                    }
                }
                out.push(s);
            }
            out
        }
    }
}
