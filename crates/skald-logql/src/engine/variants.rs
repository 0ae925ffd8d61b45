//! `variants(...) of (...)`: each variant evaluated over the lines of the `of` range
//! (its selector and pipeline replace the variant's own; the variant keeps its
//! operation, unwrap, range and grouping), its series labelled `__variant__` with the
//! variant's position, as Loki's multi-variant queries answer.
//!
//! `max_query_series` applies to each variant, as Loki's `JoinMultiVariantSampleVector`
//! applies it: a variant whose series pass the limit is dropped from the answer with a
//! warning ("maximum of series (N) reached for variant (i)"), the others answer.

use super::value::{max_series_error, merge_same_labels};
use super::{EngineError, QueryParams, StepSeries, Steps, StreamSource, Value, evaluate_sample};
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
    // One series more than the limit is enough to know a variant passes it.
    let inner = QueryParams { max_series: params.max_series.saturating_add(1), ..params.clone() };
    let over_limit = max_series_error(inner.max_series);
    for (index, variant) in expr.variants.iter().enumerate() {
        let over_lines = with_lines(variant, &expr.log)?;
        let series = match evaluate_sample(&over_lines, &inner, steps, source) {
            Ok(Value::Vector(series)) => Some(merge_same_labels(series)),
            Ok(_) => return Err(EngineError::bad_request(format!("variant {index} is not a vector"))),
            Err(e) if e == over_limit => None,
            Err(e) => return Err(e),
        };
        let Some(series) = series.filter(|s| !passes_limit(s, params.max_series)) else {
            source.warn(format!("maximum of series ({}) reached for variant ({index})", params.max_series));
            continue;
        };
        for mut one in series {
            one.labels.insert(VARIANT_LABEL.to_string(), index.to_string());
            all.push(one);
        }
    }
    Ok(Value::Vector(all))
}

/// Loki's rule, sample by sample in step order: a sample arriving while the variant
/// already has `max` series drops it (so `max` series with a later sample drop it too).
fn passes_limit(series: &[StepSeries], max: usize) -> bool {
    let steps = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let mut seen = vec![false; series.len()];
    let mut count = 0;
    for step in 0..steps {
        for (i, s) in series.iter().enumerate() {
            if s.values.get(step).is_some_and(Option::is_some) {
                if count >= max {
                    return true;
                }
                if !seen[i] {
                    seen[i] = true;
                    count += 1;
                }
            }
        }
    }
    false
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
