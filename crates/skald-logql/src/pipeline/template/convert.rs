//! Conversions between template values and Rust types as Go and sprig do them (`cast`,
//! `encoding/json`), and the argument helpers of template functions.

use crate::pipeline::label_filter::parse_go_float;
use gotmpl::{TemplateError, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) fn err(msg: impl Into<String>) -> TemplateError {
    TemplateError::Exec(msg.into())
}

pub(super) fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Nil => String::new(),
        other => other.to_string(),
    }
}

pub(super) fn arg<'v>(name: &str, args: &'v [Value], n: usize) -> gotmpl::Result<&'v [Value]> {
    if args.len() != n {
        return Err(TemplateError::ArgCount { name: name.to_string(), expected: n, got: args.len() });
    }
    Ok(args)
}

pub(super) fn vstr(x: impl Into<String>) -> Value {
    Value::String(Arc::from(x.into()))
}

/// spf13/cast's ToInt64 (as sprig uses it): 0 when not convertible.
pub(super) fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Uint(u) => *u as i64,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => *b as i64,
        Value::String(s) => {
            let mut t: &str = s;
            // trimZeroDecimal: "12.000" -> "12"
            if let Some((a, b)) = t.split_once('.')
                && !b.is_empty()
                && b.bytes().all(|c| c == b'0')
            {
                t = a;
            }
            parse_go_int(t).unwrap_or(0)
        }
        _ => 0,
    }
}

fn parse_go_int(t: &str) -> Option<i64> {
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        i64::from_str_radix(b, 2).ok()?
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}

pub(super) fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Uint(u) => *u as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => *b as i64 as f64,
        Value::String(s) => parse_go_float(s).unwrap_or(0.0),
        _ => 0.0,
    }
}

pub(super) fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Nil => true,
        Value::String(s) => s.is_empty(),
        Value::Int(i) => *i == 0,
        Value::Uint(u) => *u == 0,
        Value::Float(f) => *f == 0.0,
        Value::Bool(b) => !*b,
        Value::List(l) => l.is_empty(),
        Value::Map(m) => m.is_empty(),
        _ => false,
    }
}

pub(super) fn json_to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => vstr(s.clone()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(json_to_value).collect::<Vec<_>>().into()),
        serde_json::Value::Object(o) => {
            let m: BTreeMap<Arc<str>, Value> = o.iter().map(|(k, v)| (Arc::from(k.as_str()), json_to_value(v))).collect();
            Value::Map(Arc::new(m))
        }
    }
}
