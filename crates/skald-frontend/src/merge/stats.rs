//! Summing the `stats` blocks of a split query's parts, as Loki's frontend does: every
//! counter and time is added up, flags are or-ed, the per-second rates are recomputed
//! from the sums, and `summary.splits` counts the parts.

use serde_json::{Map, Value, json};

pub(super) fn sum_stats(parts: &[Value], part_count: usize) -> Value {
    let mut total = Value::Null;
    for part in parts {
        total = add(total, part);
    }
    if let Some(summary) = total.get_mut("summary").and_then(Value::as_object_mut) {
        let exec_time = summary.get("execTime").and_then(Value::as_f64).unwrap_or(0.0).max(1e-9);
        let bytes = summary.get("totalBytesProcessed").and_then(Value::as_f64).unwrap_or(0.0);
        let lines = summary.get("totalLinesProcessed").and_then(Value::as_f64).unwrap_or(0.0);
        if summary.contains_key("bytesProcessedPerSecond") {
            summary.insert("bytesProcessedPerSecond".to_string(), json!((bytes / exec_time) as u64));
        }
        if summary.contains_key("linesProcessedPerSecond") {
            summary.insert("linesProcessedPerSecond".to_string(), json!((lines / exec_time) as u64));
        }
        summary.insert("splits".to_string(), json!(part_count));
    }
    total
}

/// `left + right`, field by field; fields only one side has are kept.
fn add(left: Value, right: &Value) -> Value {
    match (left, right) {
        (Value::Null, right) => right.clone(),
        (Value::Object(mut left), Value::Object(right)) => {
            for (key, value) in right {
                let sum = add(left.get_mut(key).map(Value::take).unwrap_or(Value::Null), value);
                left.insert(key.clone(), sum);
            }
            Value::Object(left)
        }
        (Value::Number(left), Value::Number(right)) => add_numbers(&left, right),
        (Value::Bool(left), Value::Bool(right)) => Value::Bool(left || *right),
        (left, _) => left,
    }
}

fn add_numbers(left: &serde_json::Number, right: &serde_json::Number) -> Value {
    if let (Some(a), Some(b)) = (left.as_u64(), right.as_u64()) {
        return json!(a.saturating_add(b));
    }
    if let (Some(a), Some(b)) = (left.as_i64(), right.as_i64()) {
        return json!(a.saturating_add(b));
    }
    let sum = left.as_f64().unwrap_or(0.0) + right.as_f64().unwrap_or(0.0);
    serde_json::Number::from_f64(sum).map(Value::Number).unwrap_or_else(|| Value::Object(Map::new()))
}
