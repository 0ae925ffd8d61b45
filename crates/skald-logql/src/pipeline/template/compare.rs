//! Go's comparison builtins (`eq`, `ne`, `lt`, `le`, `gt`, `ge`) with Go's rules and
//! errors: values of different kinds are "incompatible types for comparison" (a label,
//! a string, compared with a number literal is the common case: `eq .status 200`),
//! except signed and unsigned integers; booleans are ordered by nothing ("invalid type
//! for comparison"). Registered over `gotmpl`'s own, whose messages differ, with `html`,
//! `js` and `urlquery`, which Go also calls with no argument.

use super::convert::err;
use super::go_errors::go_type;
use gotmpl::{TemplateError, Value};
use std::cmp::Ordering;

const BAD_TYPE: &str = "invalid type for comparison";

fn incompatible(a: &Value, b: &Value) -> TemplateError {
    err(format!("incompatible types for comparison: {} and {}", go_type(a), go_type(b)))
}

#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Uint,
    Float,
    String,
    Invalid,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Uint(_) => Kind::Uint,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::String,
        Value::Nil => Kind::Invalid,
        _ => Kind::Other,
    }
}

/// Go's signed/unsigned special case, shared by `eq` and `lt`.
fn mixed_ints(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(i), Value::Uint(u)) => Some(if *i < 0 { Ordering::Less } else { (*i as u64).cmp(u) }),
        (Value::Uint(u), Value::Int(i)) => Some(if *i < 0 { Ordering::Greater } else { u.cmp(&(*i as u64)) }),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> gotmpl::Result<bool> {
    let (ka, kb) = (kind(a), kind(b));
    if ka != kb {
        return match mixed_ints(a, b) {
            Some(o) => Ok(o == Ordering::Equal),
            None if ka != Kind::Invalid && kb != Kind::Invalid => Err(incompatible(a, b)),
            None => Ok(false),
        };
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Uint(x), Value::Uint(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Nil, Value::Nil) => true,
        (x, _) => return Err(err(format!("non-comparable type {x}: {}", go_type(x)))),
    })
}

fn less(a: &Value, b: &Value) -> gotmpl::Result<bool> {
    let (ka, kb) = (kind(a), kind(b));
    if matches!(ka, Kind::Invalid | Kind::Other) || matches!(kb, Kind::Invalid | Kind::Other) {
        return Err(err(BAD_TYPE));
    }
    if ka != kb {
        return match mixed_ints(a, b) {
            Some(o) => Ok(o == Ordering::Less),
            None => Err(incompatible(a, b)),
        };
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Uint(x), Value::Uint(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::String(x), Value::String(y)) => Ok(x < y),
        _ => Err(err(BAD_TYPE)),
    }
}

fn two<'a>(name: &str, a: &'a [Value]) -> gotmpl::Result<(&'a Value, &'a Value)> {
    match a {
        [x, y] => Ok((x, y)),
        _ => Err(TemplateError::ArgCount { name: name.into(), expected: 2, got: a.len() }),
    }
}

fn eq(a: &[Value]) -> gotmpl::Result<Value> {
    let Some((first, rest)) = a.split_first() else {
        return Err(TemplateError::ArgCount { name: "eq".into(), expected: 1, got: 0 });
    };
    if rest.is_empty() {
        return Err(err("missing argument for comparison"));
    }
    for other in rest {
        if equal(first, other)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn le(x: &Value, y: &Value) -> gotmpl::Result<bool> {
    Ok(less(x, y)? || equal(x, y)?)
}

/// Go's builtins registered over gotmpl's, by name.
pub(super) fn go_builtins() -> Vec<(&'static str, super::functions::F)> {
    vec![
        ("eq", Box::new(eq)),
        (
            "ne",
            Box::new(|a| {
                let (x, y) = two("ne", a)?;
                Ok(Value::Bool(!equal(x, y)?))
            }),
        ),
        (
            "lt",
            Box::new(|a| {
                let (x, y) = two("lt", a)?;
                Ok(Value::Bool(less(x, y)?))
            }),
        ),
        (
            "le",
            Box::new(|a| {
                let (x, y) = two("le", a)?;
                Ok(Value::Bool(le(x, y)?))
            }),
        ),
        (
            "gt",
            Box::new(|a| {
                let (x, y) = two("gt", a)?;
                Ok(Value::Bool(!le(x, y)?))
            }),
        ),
        (
            "ge",
            Box::new(|a| {
                let (x, y) = two("ge", a)?;
                Ok(Value::Bool(!less(x, y)?))
            }),
        ),
        ("len", Box::new(super::go_errors::go_len)),
        ("html", Box::new(|a| Ok(Value::String(gotmpl::html_escape(&sprint(a)).into())))),
        ("js", Box::new(|a| Ok(Value::String(gotmpl::js_escape(&sprint(a)).into())))),
        ("urlquery", Box::new(|a| Ok(Value::String(gotmpl::url_encode(&sprint(a)).into())))),
        ("index", Box::new(super::indexing::go_index)),
        ("slice", Box::new(super::indexing::go_slice)),
    ]
}

/// Go's `evalArgs`: one string as it is, else `fmt.Sprint` of the arguments (a space
/// between two operands when neither is a string).
fn sprint(a: &[Value]) -> String {
    if let [Value::String(s)] = a {
        return s.to_string();
    }
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        if i > 0 && !matches!(v, Value::String(_)) && !matches!(a[i - 1], Value::String(_)) {
            out.push(' ');
        }
        out.push_str(&v.to_string());
    }
    out
}
