//! Merging the Loki JSON answers of a split query's parts into the answer the unsplit
//! query would have given.
//!
//! - `matrix`: series grouped by metric, values concatenated in part (time) order,
//!   series sorted by their labels (as Loki's engine sorts a range result);
//! - `streams`: see [`streams`]: parts come newest first for `backward`, entries are
//!   taken in the engine's order until `limit`, streams keep their first appearance;
//! - `stats` are summed ([`stats`]), `warnings` merged without duplicates;
//! - a sharded query's parts ([`MergeKind::Shards`]): the same series from several
//!   shards at one timestamp are combined (summed, or their minimum or maximum);
//! - a single part (an instant query's `vector` or `scalar`, anything forwarded) is
//!   passed through untouched.

mod stats;
mod streams;

use serde_json::{Map, Value};
use skald_common::LabelSet;
use std::collections::BTreeMap;

pub use streams::LogOrder;

/// A part's answer that is not the Loki JSON the merge expects.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct MergeError(pub String);

/// How a query's parts are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeKind {
    /// Parts in time order.
    Metric,
    /// Parts in the direction's order (newest first for backward).
    Logs { order: LogOrder, limit: usize },
    /// Parts of a sharded metric query: `shards` shards of each time part.
    Shards { combine: Combine, shards: usize },
}

/// How the values of one series at one timestamp from several shards combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    Sum,
    Min,
    Max,
}

/// Merges parsed part answers (each `{"status":"success","data":{...}}`).
pub fn merge_responses(parts: Vec<Value>, kind: MergeKind) -> Result<Value, MergeError> {
    let part_count = parts.len();
    let mut parts = parts.into_iter();
    let Some(mut envelope) = parts.next() else {
        return Err(MergeError("no parts to merge".to_string()));
    };
    let rest: Vec<Value> = parts.collect();
    if rest.is_empty() {
        return Ok(envelope);
    }
    let mut all = Vec::with_capacity(part_count);
    all.push(take_data(&mut envelope)?);
    let mut warnings = take_warnings(&mut envelope);
    for mut part in rest {
        all.push(take_data(&mut part)?);
        for warning in take_warnings(&mut part) {
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
        }
    }
    let result_type = all[0].get("resultType").and_then(Value::as_str).unwrap_or_default().to_string();
    for data in &all {
        let other = data.get("resultType").and_then(Value::as_str).unwrap_or_default();
        if other != result_type {
            return Err(MergeError(format!("parts answered with different result types ({result_type} and {other})")));
        }
    }
    let mut results = Vec::with_capacity(all.len());
    let mut part_stats = Vec::with_capacity(all.len());
    for data in &mut all {
        results.push(data.shift_remove("result").unwrap_or(Value::Array(Vec::new())));
        part_stats.push(data.shift_remove("stats").unwrap_or(Value::Null));
    }
    let merged_result = match (result_type.as_str(), kind) {
        ("matrix", MergeKind::Shards { combine, .. }) => combine_matrix(results, combine)?,
        ("matrix", _) => merge_matrix(results)?,
        ("streams", MergeKind::Logs { order, limit }) => streams::merge_streams(results, order, limit)?,
        (other, _) => return Err(MergeError(format!("cannot merge {other} results of {part_count} parts"))),
    };
    // The first part's data keeps its key order (resultType, encodingFlags, result, stats).
    let mut out = std::mem::take(&mut all[0]);
    insert_after_header(&mut out, merged_result);
    let mut stats = stats::sum_stats(&part_stats, part_count);
    if let (MergeKind::Shards { shards, .. }, Some(summary)) = (kind, stats.get_mut("summary").and_then(Value::as_object_mut)) {
        summary.insert("shards".to_string(), Value::from(shards));
    }
    out.insert("stats".to_string(), stats);
    if let Some(object) = envelope.as_object_mut() {
        // Loki writes `warnings` before `data`.
        if !warnings.is_empty() {
            object.insert("warnings".to_string(), Value::Array(warnings));
        }
        object.insert("data".to_string(), Value::Object(out));
    }
    Ok(envelope)
}

/// Puts `result` after `resultType` and `encodingFlags` (the order Loki writes).
fn insert_after_header(data: &mut Map<String, Value>, result: Value) {
    let mut rebuilt = Map::new();
    let mut placed = false;
    for (key, value) in std::mem::take(data) {
        let is_header = key == "resultType" || key == "encodingFlags";
        if !is_header && !placed {
            rebuilt.insert("result".to_string(), result.clone());
            placed = true;
        }
        rebuilt.insert(key, value);
    }
    if !placed {
        rebuilt.insert("result".to_string(), result);
    }
    *data = rebuilt;
}

fn take_data(envelope: &mut Value) -> Result<Map<String, Value>, MergeError> {
    if envelope.get("status").and_then(Value::as_str) != Some("success") {
        return Err(MergeError("a part did not answer with status success".to_string()));
    }
    match envelope.get_mut("data").map(Value::take) {
        Some(Value::Object(data)) => Ok(data),
        _ => Err(MergeError("a part's answer has no data object".to_string())),
    }
}

fn take_warnings(envelope: &mut Value) -> Vec<Value> {
    match envelope.as_object_mut().and_then(|o| o.shift_remove("warnings")) {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    }
}

/// A `{"name": "value"}` object as a label set (the merge's grouping key).
pub(crate) fn labels_of(object: &Value, what: &str) -> Result<LabelSet, MergeError> {
    let Some(map) = object.as_object() else {
        return Err(MergeError(format!("a {what} is not an object")));
    };
    let mut pairs = Vec::with_capacity(map.len());
    for (name, value) in map {
        let Some(value) = value.as_str() else {
            return Err(MergeError(format!("label {name} of a {what} is not a string")));
        };
        pairs.push((name.clone(), value.to_string()));
    }
    Ok(LabelSet::from_pairs(pairs))
}

/// Every series of every matrix result: its `metric`, labels and `values`.
fn for_each_series(
    results: Vec<Value>,
    mut visit: impl FnMut(Value, LabelSet, Vec<Value>) -> Result<(), MergeError>,
) -> Result<(), MergeError> {
    for result in results {
        let Value::Array(list) = result else {
            return Err(MergeError("a matrix result is not an array".to_string()));
        };
        for mut item in list {
            let metric = item.get_mut("metric").map(Value::take).unwrap_or(Value::Object(Map::new()));
            let labels = labels_of(&metric, "metric")?;
            let Some(Value::Array(values)) = item.get_mut("values").map(Value::take) else {
                return Err(MergeError("a matrix series has no values array".to_string()));
            };
            visit(metric, labels, values)?;
        }
    }
    Ok(())
}

/// Series grouped by metric, values concatenated in part order, sorted by labels.
fn merge_matrix(results: Vec<Value>) -> Result<Value, MergeError> {
    let mut series: BTreeMap<LabelSet, (Value, Vec<Value>)> = BTreeMap::new();
    for_each_series(results, |metric, labels, values| {
        series.entry(labels).or_insert_with(|| (metric, Vec::new())).1.extend(values);
        Ok(())
    })?;
    let list = series.into_values().map(|(metric, values)| series_object(metric, values)).collect();
    Ok(Value::Array(list))
}

/// `{"metric": ..., "values": [...]}`, in Loki's key order.
fn series_object(metric: Value, values: Vec<Value>) -> Value {
    let mut item = Map::new();
    item.insert("metric".to_string(), metric);
    item.insert("values".to_string(), Value::Array(values));
    Value::Object(item)
}

/// A sample value as Loki writes it (Go's `FormatFloat(v, 'f', -1, 64)`).
fn parse_sample(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

fn format_sample(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf".to_string() } else { "-Inf".to_string() }
    } else {
        // Rust's shortest round-trip digits without exponent, as Go's 'f' with -1.
        format!("{value}")
    }
}

/// One series' points by timestamp (ns): the first point as it came, and the combined
/// value once a second shard answered for the same time.
type Points = BTreeMap<i128, (Value, Option<f64>)>;

/// Series grouped by metric; values at the same timestamp (one per shard) combined;
/// points sorted by time, series by labels.
fn combine_matrix(results: Vec<Value>, combine: Combine) -> Result<Value, MergeError> {
    let mut series: BTreeMap<LabelSet, (Value, Points)> = BTreeMap::new();
    for_each_series(results, |metric, labels, values| {
        let points = &mut series.entry(labels).or_insert_with(|| (metric, BTreeMap::new())).1;
        for point in values {
            // Timestamps are seconds with up to nanosecond fractions: keyed exactly.
            let key =
                point[0].as_f64().map(|t| (t * 1e9).round() as i128).ok_or_else(|| MergeError("a point without a timestamp".into()))?;
            let value = point[1].as_str().and_then(parse_sample).ok_or_else(|| MergeError("a point without a value".into()))?;
            match points.get_mut(&key) {
                None => {
                    points.insert(key, (point, None));
                }
                Some((first, combined)) => {
                    let so_far = combined.or_else(|| first[1].as_str().and_then(parse_sample)).unwrap_or(f64::NAN);
                    *combined = Some(match combine {
                        Combine::Sum => so_far + value,
                        Combine::Min => so_far.min(value),
                        Combine::Max => so_far.max(value),
                    });
                }
            }
        }
        Ok(())
    })?;
    let list = series
        .into_values()
        .map(|(metric, points)| {
            let values: Vec<Value> = points
                .into_values()
                .map(|(mut point, combined)| {
                    if let Some(value) = combined {
                        point[1] = Value::String(format_sample(value));
                    }
                    point
                })
                .collect();
            series_object(metric, values)
        })
        .collect();
    Ok(Value::Array(list))
}

#[cfg(test)]
mod tests;
