//! The syntax tree as Loki sees it: parentheses dropped, literal-only arithmetic folded
//! and consecutive line filters grouped into one stage.

use crate::ast::*;

/// A sample expression with parentheses removed and literal-only operations folded, as
/// Loki's parser builds them.
pub(super) enum Sample<'a> {
    Literal(f64),
    Range(&'a RangeAggregation),
    Vector(&'a VectorAggregation),
    Binary(&'a BinaryExpr),
    VectorFn(f64),
    LabelReplace(&'a LabelReplace),
}

fn is_set_op(op: BinaryOp) -> bool {
    matches!(op, BinaryOp::Or | BinaryOp::And | BinaryOp::Unless)
}

/// The value of an expression made only of literals, computed as Loki's `reduceBinOp`.
fn fold(e: &SampleExpr) -> Option<f64> {
    match e {
        SampleExpr::Literal(v) => Some(*v),
        SampleExpr::Paren(inner) => fold(inner),
        SampleExpr::Binary(b) if !is_set_op(b.op) => {
            let (l, r) = (fold(&b.lhs)?, fold(&b.rhs)?);
            b.op.fold_literals(l, r)
        }
        _ => None,
    }
}

pub(super) fn sample(e: &SampleExpr) -> Sample<'_> {
    if let Some(v) = fold(e) {
        return Sample::Literal(v);
    }
    match e {
        SampleExpr::Paren(inner) => sample(inner),
        SampleExpr::Literal(v) => Sample::Literal(*v),
        SampleExpr::RangeAggregation(r) => Sample::Range(r),
        SampleExpr::VectorAggregation(v) => Sample::Vector(v),
        SampleExpr::Binary(b) => Sample::Binary(b),
        SampleExpr::Vector(v) => Sample::VectorFn(*v),
        SampleExpr::LabelReplace(l) => Sample::LabelReplace(l),
    }
}

/// One line filter of a chain: `|= "a" or "b"`, `!= "c"`.
pub(super) struct FilterItem<'a> {
    pub(super) op: LineFilterOp,
    pub(super) values: &'a [LineFilterValue],
}

/// A pipeline stage as Loki groups them: consecutive line filters form one stage.
pub(super) enum LokiStage<'a> {
    Filters(Vec<FilterItem<'a>>),
    Other(&'a Stage),
}

pub(super) fn loki_stages(pipeline: &[Stage]) -> Vec<LokiStage<'_>> {
    let mut out: Vec<LokiStage<'_>> = Vec::new();
    for stage in pipeline {
        let Stage::LineFilter(lf) = stage else {
            out.push(LokiStage::Other(stage));
            continue;
        };
        let positive = matches!(lf.op, LineFilterOp::Contains | LineFilterOp::Regex | LineFilterOp::Pattern);
        let items: Vec<FilterItem<'_>> = if positive {
            vec![FilterItem { op: lf.op, values: &lf.values }]
        } else {
            // Loki turns `!= "a" or "b"` into `!= "a" != "b"`.
            (0..lf.values.len()).map(|i| FilterItem { op: lf.op, values: &lf.values[i..i + 1] }).collect()
        };
        match out.last_mut() {
            Some(LokiStage::Filters(chain)) => chain.extend(items),
            _ => out.push(LokiStage::Filters(items)),
        }
    }
    out
}
