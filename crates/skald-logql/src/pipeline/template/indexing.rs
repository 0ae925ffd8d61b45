//! Go's `index` and `slice` builtins with Go's rules and messages (`index out of range:
//! 5`, `value has type int; should be string`, `cannot 3-index slice a string`),
//! registered over `gotmpl`'s own, whose messages differ. A string is indexed and
//! sliced by bytes, as Go does.

use super::convert::err;
use super::go_errors::go_type;
use gotmpl::{TemplateError, Value};
use std::sync::Arc;

/// Go's `indexArg`: an integer in `0..=cap`.
fn index_arg(index: &Value, cap: usize) -> gotmpl::Result<usize> {
    let x = match index {
        Value::Int(i) => *i,
        Value::Uint(u) => i64::try_from(*u).unwrap_or(i64::MAX),
        Value::Nil => return Err(err("cannot index slice/array with nil")),
        other => return Err(err(format!("cannot index slice/array with type {}", go_type(other)))),
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(err(format!("index out of range: {x}")));
    }
    Ok(x as usize)
}

fn index_one(item: &Value, index: &Value) -> gotmpl::Result<Value> {
    match item {
        Value::String(s) => {
            let x = index_arg(index, s.len())?;
            // Go's reflect panics at the length itself; text/template reports the panic.
            s.as_bytes().get(x).map(|b| Value::Int(i64::from(*b))).ok_or_else(|| err("reflect: string index out of range"))
        }
        Value::List(list) => {
            let x = index_arg(index, list.len())?;
            list.get(x).cloned().ok_or_else(|| err("reflect: slice index out of range"))
        }
        Value::Map(_) => match index {
            Value::String(_) => item.index(index),
            Value::Nil => Err(err("value is nil; should be of type string")),
            other => Err(err(format!("value has type {}; should be string", go_type(other)))),
        },
        other => Err(err(format!("can't index item of type {}", go_type(other)))),
    }
}

pub(super) fn go_index(a: &[Value]) -> gotmpl::Result<Value> {
    let Some((item, indexes)) = a.split_first() else {
        return Err(TemplateError::ArgCount { name: "index".into(), expected: 1, got: 0 });
    };
    if matches!(item, Value::Nil) {
        return Err(err("index of untyped nil"));
    }
    let mut item = item.clone();
    for index in indexes {
        item = index_one(&item, index)?;
    }
    Ok(item)
}

pub(super) fn go_slice(a: &[Value]) -> gotmpl::Result<Value> {
    let Some((item, indexes)) = a.split_first() else {
        return Err(TemplateError::ArgCount { name: "slice".into(), expected: 1, got: 0 });
    };
    if matches!(item, Value::Nil) {
        return Err(err("slice of untyped nil"));
    }
    if indexes.len() > 3 {
        return Err(err(format!("too many slice indexes: {}", indexes.len())));
    }
    let len = match item {
        Value::String(_) if indexes.len() == 3 => return Err(err("cannot 3-index slice a string")),
        Value::String(s) => s.len(),
        Value::List(list) => list.len(),
        other => return Err(err(format!("can't slice item of type {}", go_type(other)))),
    };
    let mut idx = [0, len, len];
    for (i, index) in indexes.iter().enumerate() {
        idx[i] = index_arg(index, len)?;
    }
    if idx[0] > idx[1] {
        return Err(err(format!("invalid slice index: {} > {}", idx[0], idx[1])));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(err(format!("invalid slice index: {} > {}", idx[1], idx[2])));
    }
    let (from, to) = (idx[0], idx[1]);
    Ok(match item {
        Value::String(s) => Value::String(Arc::from(String::from_utf8_lossy(&s.as_bytes()[from..to]).as_ref())),
        Value::List(list) => Value::List(Arc::from(&list[from..to])),
        other => other.clone(),
    })
}
