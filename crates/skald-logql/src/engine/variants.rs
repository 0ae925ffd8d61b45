//! `variants(...) of (...)`: each variant evaluated over the lines of the `of` range
//! (its selector and pipeline replace the variant's own; the variant keeps its
//! operation, unwrap, range and grouping), its series labelled `__variant__` with the
//! variant's position, as Loki's multi-variant queries answer.

use super::{EngineError, QueryParams, Steps, StreamSource, Value, evaluate_sample};
use crate::ast::{LogExpr, RangeAggregation, SampleExpr, VariantsExpr};

/// The label naming a series' variant (`"0"`, `"1"`, ...).
pub const VARIANT_LABEL: &str = "__variant__";

pub(crate) fn evaluate_variants(
    expr: &VariantsExpr,
    params: &QueryParams,
    steps: &Steps,
    source: &dyn StreamSource,
) -> Result<Value, EngineError> {
    let mut all = Vec::new();
    for (index, variant) in expr.variants.iter().enumerate() {
        let over_lines = with_lines(variant, &expr.log)?;
        let Value::Vector(series) = evaluate_sample(&over_lines, params, steps, source)? else {
            return Err(EngineError::bad_request(format!("variant {index} is not a vector")));
        };
        for mut one in series {
            one.labels.insert(VARIANT_LABEL.to_string(), index.to_string());
            all.push(one);
        }
    }
    Ok(Value::Vector(all))
}

/// The variant reading the `of` range's lines.
fn with_lines(variant: &SampleExpr, log: &LogExpr) -> Result<SampleExpr, EngineError> {
    let replace = |r: &RangeAggregation| RangeAggregation { log: log.clone(), ..r.clone() };
    match variant {
        SampleExpr::RangeAggregation(r) => Ok(SampleExpr::RangeAggregation(replace(r))),
        SampleExpr::VectorAggregation(v) => match v.expr.as_ref() {
            SampleExpr::RangeAggregation(r) => {
                let mut v = v.clone();
                v.expr = Box::new(SampleExpr::RangeAggregation(replace(r)));
                Ok(SampleExpr::VectorAggregation(v))
            }
            other => Err(EngineError::bad_request(format!("expected range aggregation expression but got {other}"))),
        },
        other => Err(EngineError::bad_request(format!(
            "unsupported variant {other}: a variant is a range aggregation or a vector aggregation of one"
        ))),
    }
}
