//! Keywords and operator names: which words are reserved, the token names yacc prints
//! in errors, and the precedence of binary operators.

use crate::ast::*;

/// Words that are always keywords (Loki's `tokens` map), compared case-insensitively.
pub(super) const RESERVED: &[&str] = &[
    "by",
    "without",
    "bool",
    "offset",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "or",
    "and",
    "unless",
    "json",
    "regexp",
    "logfmt",
    "unpack",
    "pattern",
    "label_format",
    "line_format",
    "decolorize",
    "drop",
    "keep",
    "unwrap",
];

/// Words that are keywords only when called (followed by `(` or `by|without (`), with
/// their token names in yacc error messages.
pub(super) fn function_token_name(lower: &str) -> Option<&'static str> {
    Some(match lower {
        "count_over_time" => "COUNT_OVER_TIME",
        "rate" => "RATE",
        "rate_counter" => "RATE_COUNTER",
        "bytes_over_time" => "BYTES_OVER_TIME",
        "bytes_rate" => "BYTES_RATE",
        "avg_over_time" => "AVG_OVER_TIME",
        "sum_over_time" => "SUM_OVER_TIME",
        "min_over_time" => "MIN_OVER_TIME",
        "max_over_time" => "MAX_OVER_TIME",
        "stddev_over_time" => "STDDEV_OVER_TIME",
        "stdvar_over_time" => "STDVAR_OVER_TIME",
        "quantile_over_time" => "QUANTILE_OVER_TIME",
        "first_over_time" => "FIRST_OVER_TIME",
        "last_over_time" => "LAST_OVER_TIME",
        "absent_over_time" => "ABSENT_OVER_TIME",
        "vector" => "VECTOR",
        "sum" => "SUM",
        "avg" => "AVG",
        "min" => "MIN",
        "max" => "MAX",
        "count" => "COUNT",
        "stddev" => "STDDEV",
        "stdvar" => "STDVAR",
        "topk" => "TOPK",
        "bottomk" => "BOTTOMK",
        "sort" => "SORT",
        "sort_desc" => "SORT_DESC",
        "approx_topk" => "APPROX_TOPK",
        "label_replace" => "label_replace",
        "bytes" => "BYTES_CONV",
        "duration" => "DURATION_CONV",
        "duration_seconds" => "DURATION_SECONDS_CONV",
        "ip" => "ip",
        _ => return None,
    })
}

pub(super) fn range_op(lower: &str) -> Option<RangeOp> {
    Some(match lower {
        "count_over_time" => RangeOp::CountOverTime,
        "rate" => RangeOp::Rate,
        "rate_counter" => RangeOp::RateCounter,
        "bytes_over_time" => RangeOp::BytesOverTime,
        "bytes_rate" => RangeOp::BytesRate,
        "avg_over_time" => RangeOp::AvgOverTime,
        "sum_over_time" => RangeOp::SumOverTime,
        "min_over_time" => RangeOp::MinOverTime,
        "max_over_time" => RangeOp::MaxOverTime,
        "stddev_over_time" => RangeOp::StddevOverTime,
        "stdvar_over_time" => RangeOp::StdvarOverTime,
        "quantile_over_time" => RangeOp::QuantileOverTime,
        "first_over_time" => RangeOp::FirstOverTime,
        "last_over_time" => RangeOp::LastOverTime,
        "absent_over_time" => RangeOp::AbsentOverTime,
        _ => return None,
    })
}

pub(super) fn vector_op(lower: &str) -> Option<VectorOp> {
    Some(match lower {
        "sum" => VectorOp::Sum,
        "avg" => VectorOp::Avg,
        "min" => VectorOp::Min,
        "max" => VectorOp::Max,
        "count" => VectorOp::Count,
        "stddev" => VectorOp::Stddev,
        "stdvar" => VectorOp::Stdvar,
        "topk" => VectorOp::Topk,
        "bottomk" => VectorOp::Bottomk,
        "sort" => VectorOp::Sort,
        "sort_desc" => VectorOp::SortDesc,
        "approx_topk" => VectorOp::ApproxTopk,
        _ => return None,
    })
}

pub(super) fn range_op_name(op: RangeOp) -> &'static str {
    op.name()
}

pub(super) fn vector_op_name(op: VectorOp) -> &'static str {
    op.name()
}

pub(super) fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And | BinaryOp::Unless => 2,
        BinaryOp::Eq | BinaryOp::Neq | BinaryOp::Gt | BinaryOp::Gte | BinaryOp::Lt | BinaryOp::Lte => 3,
        BinaryOp::Add | BinaryOp::Sub => 4,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 5,
        BinaryOp::Pow => 6,
    }
}

pub(super) fn is_comparison(op: BinaryOp) -> bool {
    matches!(op, BinaryOp::Eq | BinaryOp::Neq | BinaryOp::Gt | BinaryOp::Gte | BinaryOp::Lt | BinaryOp::Lte)
}

pub(super) fn is_set_op(op: BinaryOp) -> bool {
    matches!(op, BinaryOp::Or | BinaryOp::And | BinaryOp::Unless)
}
